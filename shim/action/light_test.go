package action

import (
	"os/exec"
	"strings"
	"testing"
)

// TestActionsStayLight guards the reason this package exists: the binary
// containerd runs twice per task must not link what makes the server slow
// to start. `go list -deps` shows what a build would link.
func TestActionsStayLight(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	heavy := []string{
		"github.com/containerd/containerd/",
		"github.com/containerd/cgroups",
		"github.com/tetratelabs/wazero",
		"github.com/prometheus/",
		"go.opentelemetry.io/",
		"google.golang.org/grpc\n", // the client and server; ttrpc uses only codes and status
		"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim\n",
		"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox\n",
	}
	for _, target := range []string{".", "../../cmd/containerd-shim-wasmedge"} {
		out, err := exec.Command(goTool, "list", "-deps", "-tags", "embed_server", target).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", target, err, out)
		}
		for _, h := range heavy {
			if strings.Contains(string(out), h) {
				t.Errorf("%s links %s", target, strings.TrimSpace(h))
			}
		}
	}
}

package packaging

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/packaging/installer"
)

func TestDockerDaemonJSON(t *testing.T) {
	data, err := os.ReadFile("docker.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	if len(blocks) != 1 {
		t.Fatalf("want one daemon.json block, have %d", len(blocks))
	}
	var cfg struct {
		Features map[string]bool `json:"features"`
		Runtimes map[string]struct {
			RuntimeType string `json:"runtimeType"`
		} `json:"runtimes"`
	}
	dec := json.NewDecoder(strings.NewReader(blocks[0][1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("daemon.json: %v", err)
	}
	if !cfg.Features["containerd-snapshotter"] {
		t.Error("daemon.json must enable the containerd image store")
	}
	if got := cfg.Runtimes[installer.DefaultRuntimeName].RuntimeType; got != installer.DefaultRuntimeType {
		t.Errorf("runtimes.%s.runtimeType = %q, want %q", installer.DefaultRuntimeName, got, installer.DefaultRuntimeType)
	}
	if !strings.Contains(string(data), "--runtime=io.containerd.wasmedge.v1 --platform=wasi/wasm") {
		t.Error("docker.md lacks the docker run line")
	}
}

// TestReadmeNamesExistingFiles keeps README's file table in step with the
// tree.
func TestReadmeNamesExistingFiles(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(string(data), -1)
	if len(rows) < 10 {
		t.Fatalf("README file table has %d rows", len(rows))
	}
	for _, r := range rows {
		if r[1] == "monitoring/" {
			continue // written separately
		}
		if _, err := os.Stat(r[1]); err != nil {
			t.Errorf("README names %s: %v", r[1], err)
		}
	}
}

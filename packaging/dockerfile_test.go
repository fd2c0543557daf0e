package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/packaging/installer"
)

// dockerfileInstructions returns the Dockerfile's instructions with
// continuation lines joined and comments dropped.
func dockerfileInstructions(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("kubernetes/installer/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// dockerfileEntrypoint is the image's entrypoint binary.
func dockerfileEntrypoint(t *testing.T) string {
	t.Helper()
	for _, ins := range dockerfileInstructions(t) {
		if rest, ok := strings.CutPrefix(ins, "ENTRYPOINT "); ok {
			m := regexp.MustCompile(`^\["([^"]+)"\]$`).FindStringSubmatch(rest)
			if m == nil {
				t.Fatalf("ENTRYPOINT %s is not exec form with one element", rest)
			}
			return m[1]
		}
	}
	t.Fatal("no ENTRYPOINT")
	return ""
}

func TestDockerfile(t *testing.T) {
	ins := dockerfileInstructions(t)
	var froms []string
	for _, i := range ins {
		if strings.HasPrefix(i, "FROM ") {
			froms = append(froms, i)
		}
	}
	if len(froms) != 2 || froms[1] != "FROM scratch" {
		t.Fatalf("want a build stage and a scratch stage, have %q", froms)
	}
	all := strings.Join(ins, "\n")
	// The shim is built as `make build` builds it (three binaries, the
	// instance with cgo), and copied from where make puts it.
	if !regexp.MustCompile(`(?m)^RUN make build && mkdir -p /out && cp bin/` + installer.ShimBinaryName + ` /out/$`).MatchString(all) {
		t.Errorf("the shim is not built by make build and copied to /out")
	}
	outputs := map[string]bool{"/out/" + installer.ShimBinaryName: true}
	// Every package built by go build exists, and is built static.
	builds := regexp.MustCompile(`CGO_ENABLED=0 [^\n]*?go build [^\n]*?-o (\S+) (\./\S+)`).FindAllStringSubmatch(all, -1)
	if len(builds) != 1 {
		t.Fatalf("want one static go build (the installer), found %d", len(builds))
	}
	for _, b := range builds {
		outputs[b[1]] = true
		pkg := filepath.Join("..", strings.TrimPrefix(b[2], "./"))
		if matches, _ := filepath.Glob(filepath.Join(pkg, "*.go")); len(matches) == 0 {
			t.Errorf("go build of %s: no Go package at %s", b[2], pkg)
		}
	}
	// The final image holds the installer at the entrypoint and the shim
	// where -shim looks by default.
	copies := map[string]string{}
	for _, m := range regexp.MustCompile(`COPY --from=build (\S+) (\S+)`).FindAllStringSubmatch(all, -1) {
		if !outputs[m[1]] {
			t.Errorf("COPY of %s, which the build stage does not produce", m[1])
		}
		copies[m[2]] = m[1]
	}
	if copies[dockerfileEntrypoint(t)] == "" {
		t.Errorf("entrypoint %s is not copied into the image", dockerfileEntrypoint(t))
	}
	if copies["/shim/"+installer.ShimBinaryName] == "" {
		t.Errorf("the shim is not at /shim/%s, the installer's -shim default", installer.ShimBinaryName)
	}
}

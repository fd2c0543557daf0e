//go:build linux

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// wasiTestsuiteDir is the conformance suite shared beside the project
// (see its README); WASI_TESTSUITE overrides it.
func wasiTestsuiteDir(t *testing.T) string {
	if dir := os.Getenv("WASI_TESTSUITE"); dir != "" {
		return dir
	}
	dir, err := filepath.Abs("../../shared/wasi-testsuite")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// knownEngineDifferences are the upstream expectations wazero itself does
// not meet (the suite's README lists them); they may fail, and are reported.
var knownEngineDifferences = map[string]bool{
	"c/pwrite-with-append":     true,
	"c/sock_shutdown-not_sock": true,
}

// wasiCase is one conformance module and its expectations.
type wasiCase struct {
	name   string            // suite/test
	dir    string            // folder holding the module
	module string            // file name of the module
	Args   []string          `json:"args"`
	Env    map[string]string `json:"env"`
	Root   string            `json:"root"`
	Exit   int               `json:"exit_code"`
	Stdout string            `json:"stdout"`
	Stderr string            `json:"stderr"`
}

func loadWASICases(t *testing.T, root string) []wasiCase {
	t.Helper()
	var cases []wasiCase
	for _, suite := range []string{"c", "assemblyscript"} {
		modules, err := filepath.Glob(filepath.Join(root, suite, "*.wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if len(modules) == 0 {
			t.Fatalf("no conformance modules in %s", filepath.Join(root, suite))
		}
		for _, m := range modules {
			base := strings.TrimSuffix(filepath.Base(m), ".wasm")
			c := wasiCase{name: suite + "/" + base, dir: filepath.Dir(m), module: filepath.Base(m)}
			if data, err := os.ReadFile(strings.TrimSuffix(m, ".wasm") + ".json"); err == nil {
				if err := json.Unmarshal(data, &c); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			cases = append(cases, c)
		}
	}
	return cases
}

// copyTree copies src into dst, leaving out *.cleanup files that earlier
// runs of the suite may have left.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		switch {
		case strings.HasSuffix(d.Name(), ".cleanup"):
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// withExactProcess sets the process to exactly args and env: the suite
// checks the environment it gets, so no default PATH may be added.
func withExactProcess(args []string, env map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		s.Process.Args = args
		s.Process.Env = nil
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s.Process.Env = append(s.Process.Env, k+"="+env[k])
		}
		s.Process.Cwd = "/"
		return nil
	}
}

// TestWASITestsuite runs every conformance module as a container through
// containerd and the shim, on each containerd version, and reports the
// pass count.
func TestWASITestsuite(t *testing.T) {
	root := wasiTestsuiteDir(t)
	cases := loadWASICases(t, root)
	for _, version := range versions {
		t.Run("containerd-"+version, func(t *testing.T) {
			d := harness.StartDaemon(t, version)
			c := d.Client(t)
			passed := 0
			var known []string
			for _, tc := range cases {
				outcome := "failed"
				t.Run(tc.name, func(t *testing.T) {
					rootfs := t.TempDir()
					if tc.Root != "" {
						if err := copyTree(filepath.Join(tc.dir, tc.Root), rootfs); err != nil {
							t.Fatal(err)
						}
					}
					data, err := os.ReadFile(filepath.Join(tc.dir, tc.module))
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(rootfs, tc.module), data, 0o755); err != nil {
						t.Fatal(err)
					}
					args := append([]string{"/" + tc.module}, tc.Args...)
					stdout, stderr, status := runTask(t, d, c, uniqueID("wasi"), nil,
						oci.WithRootFSPath(rootfs), withExactProcess(args, tc.Env))
					var problems []string
					if int(status) != tc.Exit {
						problems = append(problems, fmt.Sprintf("exit status %d, want %d", status, tc.Exit))
					}
					if stdout != tc.Stdout {
						problems = append(problems, fmt.Sprintf("stdout %q, want %q", stdout, tc.Stdout))
					}
					if stderr != tc.Stderr {
						problems = append(problems, fmt.Sprintf("stderr %q, want %q", stderr, tc.Stderr))
					}
					switch {
					case len(problems) == 0:
						outcome = "passed"
					case knownEngineDifferences[tc.name]:
						outcome = "known"
						t.Logf("known wazero difference: %s", strings.Join(problems, "; "))
					default:
						t.Error(strings.Join(problems, "; "))
					}
				})
				switch outcome {
				case "passed":
					passed++
				case "known":
					known = append(known, tc.name)
				}
			}
			d.AssertClean(t)
			summary := fmt.Sprintf("WASI testsuite through containerd %s and the shim: %d of %d modules pass", version, passed, len(cases))
			if len(known) > 0 {
				summary += fmt.Sprintf("; known wazero differences: %s", strings.Join(known, ", "))
			}
			t.Log(summary)
			fmt.Println(summary)
		})
	}
}

package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// getUnix fetches path over the unix socket at socket.
func getUnix(t *testing.T, socket, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	resp, err := client.Get("http://shim" + path)
	if err != nil {
		t.Fatalf("GET %s on %s: %v", path, socket, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestServe(t *testing.T) {
	// A directory that does not exist yet, as on a fresh node.
	dir := filepath.Join(t.TempDir(), "run", "metrics")
	r := NewRegistry()
	r.ObserveCache(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path, err := r.Serve(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, strconv.Itoa(os.Getpid())+".sock"); path != want {
		t.Errorf("socket %s, want %s", path, want)
	}
	for p, mode := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), mode)
		}
	}

	status, body := getUnix(t, path, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	if v := fams[compileCacheName].GetMetric(); len(v) != 2 {
		t.Errorf("cache series %v", v)
	}
	if _, err := r.Serve(ctx, dir); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second Serve: %v, want ErrAlreadyExists", err)
	}

	// The context's end removes the socket.
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("socket still there after the context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after the context's: %v", err)
	}
}

func TestServeDirFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(MetricsDirEnv, dir)
	r := NewRegistry()
	path, err := r.Serve(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	if filepath.Dir(path) != dir {
		t.Errorf("socket %s not in %s", path, dir)
	}
}

func TestMetricsDir(t *testing.T) {
	tests := []struct{ name, arg, env, want string }{
		{"argument wins", "/a", "/b", "/a"},
		{"environment", "", "/b", "/b"},
		{"default", "", "", DefaultMetricsDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(MetricsDirEnv, tt.env)
			if got := MetricsDir(tt.arg); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// A socket a dead shim with our pid left behind is replaced, not an error.
func TestServeReplacesStaleSocket(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, strconv.Itoa(os.Getpid())+".sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	r := NewRegistry()
	path, err := r.Serve(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	if status, _ := getUnix(t, path, "/metrics"); status != http.StatusOK {
		t.Errorf("status %d", status)
	}
}

// Shutdown leaves the final counts only when an exporter announced itself,
// and only the shim-wide series.
func TestShutdownFinalFile(t *testing.T) {
	for _, exporter := range []bool{false, true} {
		t.Run("exporter="+strconv.FormatBool(exporter), func(t *testing.T) {
			dir := t.TempDir()
			if exporter {
				if err := os.WriteFile(filepath.Join(dir, exporterMarkerName), []byte("1\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := NewRegistry()
			r.ObserveExit(InstanceInfo{ContainerID: "c1"}, ExitTrap, 134)
			r.AddInstance(InstanceInfo{Namespace: "default", ContainerID: "c1"}, os.Getpid())
			r.SetInstanceMemory("default", "c1", "", 1, 1)
			path, err := r.Serve(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket left behind: %v", err)
			}
			final := filepath.Join(dir, strconv.Itoa(os.Getpid())+".final")
			fams, err := readFinal(final)
			if !exporter {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("final file without an exporter: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v := mustValue(t, fams, instanceExitsName, map[string]string{"reason": "trap"}); v != 1 {
				t.Errorf("final trap count %g", v)
			}
			for _, f := range fams {
				if isInstanceFamily(f) {
					t.Errorf("per-instance family %s in the final file", f.GetName())
				}
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 2 {
				t.Errorf("directory holds %d entries (temporary files left?)", len(entries))
			}
		})
	}
}

package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// MetricsDirEnv names the environment variable that overrides where shims
// put their metrics sockets.
const MetricsDirEnv = "WASMEDGE_SHIM_METRICS_DIR"

// DefaultMetricsDir is where shims put their metrics sockets when
// MetricsDirEnv is unset; the node exporter reads the same directory.
const DefaultMetricsDir = "/run/containerd-shim-wasmedge/metrics"

// Files in the metrics directory. Each shim serves <pid>.sock; one that
// knows an exporter is around leaves its final counts in <pid>.final as it
// exits, so exits that happen between two scrapes still get counted; the
// exporter announces itself with exporterMarkerName.
const (
	socketSuffix       = ".sock"
	finalSuffix        = ".final"
	exporterMarkerName = "exporter.pid"
)

// shutdownTimeout bounds the shutdown Serve starts itself when its context
// ends; a scrape in flight gets this long to finish.
const shutdownTimeout = 2 * time.Second

// MetricsDir resolves the metrics directory: dir when set, else the
// environment's MetricsDirEnv, else DefaultMetricsDir.
func MetricsDir(dir string) string {
	if dir != "" {
		return dir
	}
	if env := os.Getenv(MetricsDirEnv); env != "" {
		return env
	}
	return DefaultMetricsDir
}

// serving is the state of a registry's socket server.
type serving struct {
	mu     sync.Mutex
	server *http.Server
	dir    string
	path   string
	// stopped is closed by the first Shutdown; err is its outcome.
	stopped chan struct{}
	err     error
}

// Serve serves the registry's /metrics over HTTP on the unix socket
// <dir>/<pid>.sock, creating dir (mode 0700) if needed; an empty dir means
// MetricsDir(""). It returns the socket's path. When ctx ends the registry
// shuts down as by Shutdown; a shim that must not exit before that is done
// calls Shutdown itself. A registry serves at most once.
func (r *Registry) Serve(ctx context.Context, dir string) (string, error) {
	s := &r.serving
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server != nil {
		return "", fmt.Errorf("metrics already served on %s: %w", s.path, errdefs.ErrAlreadyExists)
	}
	dir = MetricsDir(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("metrics directory: %w", err)
	}
	path := filepath.Join(dir, strconv.Itoa(os.Getpid())+socketSuffix)
	// A socket under our pid is a dead shim's that had the same pid.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("remove stale metrics socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return "", fmt.Errorf("metrics socket: %w", err)
	}
	// The series name pods and containers: root only, like the directory.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return "", fmt.Errorf("metrics socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", r.Handler())
	s.server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.dir, s.path = dir, path
	s.stopped = make(chan struct{})
	go func() { _ = s.server.Serve(l) }()
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			_ = r.Shutdown(sctx)
		case <-s.stopped:
		}
	}()
	return path, nil
}

// Shutdown stops serving and removes the socket. If a node exporter has
// announced itself in the directory, it first leaves the shim's final
// counts there for it. Calls after the first return the first's outcome;
// without Serve it does nothing.
func (r *Registry) Shutdown(ctx context.Context) error {
	s := &r.serving
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server == nil {
		return nil
	}
	select {
	case <-s.stopped:
		return s.err
	default:
	}
	var errs []error
	if _, err := os.Stat(filepath.Join(s.dir, exporterMarkerName)); err == nil {
		errs = append(errs, r.writeFinal(s.dir))
	}
	// The final file must exist before the socket goes, or the exporter may
	// see the shim gone, count it out, and count its final file again.
	errs = append(errs, s.server.Shutdown(ctx))
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	s.err = errors.Join(errs...)
	close(s.stopped)
	return s.err
}

// writeFinal leaves the shim-wide series in <dir>/<pid>.final, written
// under a temporary name and renamed so the exporter never reads half.
func (r *Registry) writeFinal(dir string) error {
	families, err := r.registry.Gather()
	if err != nil && len(families) == 0 {
		return fmt.Errorf("final metrics: %w", err)
	}
	name := strconv.Itoa(os.Getpid()) + finalSuffix
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("final metrics: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	enc := expfmt.NewEncoder(tmp, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, f := range families {
		if isInstanceFamily(f) {
			continue
		}
		if err := enc.Encode(f); err != nil {
			tmp.Close()
			return fmt.Errorf("final metrics: %w", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("final metrics: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("final metrics: %w", err)
	}
	return nil
}

// isInstanceFamily reports whether a family's series belong to instances
// (they carry container_id) rather than to the shim as a whole.
func isInstanceFamily(f *dto.MetricFamily) bool {
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "container_id" {
				return true
			}
		}
	}
	return false
}

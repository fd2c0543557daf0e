//go:build linux

package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox"
)

// stdioPaths are the stream URIs of a create or exec request: a bare path
// is a FIFO, file:// a log file, binary:// a logger process.
type stdioPaths struct {
	stdin, stdout, stderr string
	terminal              bool
}

// processIO owns the shim's side of one process's standard streams.
//
// stdout and stderr are handed to the instance process as they are (no
// copying in the shim). For a FIFO the shim also keeps a read end open, so
// that a reader going away (ctr run -d detaching) never kills the guest with
// SIGPIPE. stdin is copied through a pipe, because the shim must be able to
// close it (CloseIO) and the guest must see EOF when the writer goes away.
type processIO struct {
	// child are the files the instance process inherits; closed in the shim
	// once the child has them.
	child sandbox.Stdio

	mu        sync.Mutex
	stdinW    *os.File // shim's write end of the stdin pipe
	keep      []io.Closer
	closeOnce sync.Once
}

// openIO opens the streams named in paths.
func openIO(ctx context.Context, id string, paths stdioPaths) (_ *processIO, retErr error) {
	if paths.terminal {
		return nil, fmt.Errorf("terminal (tty) is not supported for wasm containers: %w", errdefs.ErrInvalidArgument)
	}
	pio := &processIO{}
	defer func() {
		if retErr != nil {
			pio.releaseChild()
			pio.Close()
		}
	}()
	if err := pio.openStdin(ctx, paths.stdin); err != nil {
		return nil, err
	}
	outs, err := pio.openOutputs(ctx, id, paths.stdout, paths.stderr)
	if err != nil {
		return nil, err
	}
	pio.child.Stdout, pio.child.Stderr = outs[0], outs[1]
	return pio, nil
}

func (p *processIO) openStdin(ctx context.Context, path string) error {
	if path == "" {
		return nil
	}
	u, err := url.Parse(path)
	if err != nil {
		return fmt.Errorf("stdin %q: %w", path, errdefs.ErrInvalidArgument)
	}
	if u.Scheme != "" && u.Scheme != "fifo" {
		return fmt.Errorf("stdin %q: only FIFOs are supported: %w", path, errdefs.ErrInvalidArgument)
	}
	src, err := fifo.OpenFifo(context.WithoutCancel(ctx), u.Path, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("open stdin %s: %w", path, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		src.Close()
		return err
	}
	p.child.Stdin = r
	p.stdinW = w
	p.keep = append(p.keep, src)
	go func() {
		_, _ = io.Copy(w, src)
		p.CloseStdin()
	}()
	return nil
}

// openOutputs opens stdout and stderr. When both name one logger binary,
// a single logger process serves both streams.
func (p *processIO) openOutputs(ctx context.Context, id, stdout, stderr string) ([2]*os.File, error) {
	var files [2]*os.File
	uo, err := parseStreamURI(stdout)
	if err != nil {
		return files, err
	}
	ue, err := parseStreamURI(stderr)
	if err != nil {
		return files, err
	}
	if uo != nil && uo.Scheme == "binary" {
		o, e, err := p.startLogger(ctx, id, uo)
		if err != nil {
			return files, err
		}
		files[0], files[1] = o, e
		if ue == nil || ue.Scheme == "binary" {
			return files, nil
		}
		// stderr goes elsewhere: drop the logger's stderr pipe.
		files[1].Close()
		files[1] = nil
	}
	for i, u := range []*url.URL{uo, ue} {
		if files[i] != nil || u == nil {
			continue
		}
		f, err := p.openOutput(ctx, u)
		if err != nil {
			return files, err
		}
		files[i] = f
	}
	return files, nil
}

func parseStreamURI(path string) (*url.URL, error) {
	if path == "" {
		return nil, nil
	}
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("stdio %q: %w", path, errdefs.ErrInvalidArgument)
	}
	if u.Scheme == "" {
		u.Scheme = "fifo"
	}
	switch u.Scheme {
	case "fifo", "file", "binary":
		return u, nil
	}
	return nil, fmt.Errorf("stdio %q: unsupported scheme %q: %w", path, u.Scheme, errdefs.ErrInvalidArgument)
}

func (p *processIO) openOutput(ctx context.Context, u *url.URL) (*os.File, error) {
	switch u.Scheme {
	case "file":
		if err := os.MkdirAll(filepath.Dir(u.Path), 0o755); err != nil {
			return nil, err
		}
		return os.OpenFile(u.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	case "fifo":
		// A read end held by the shim lets the write-only open below
		// succeed at once and keeps the FIFO from ever losing its reader.
		keep, err := fifo.OpenFifo(context.WithoutCancel(ctx), u.Path, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", u.Path, err)
		}
		p.keep = append(p.keep, keep)
		f, err := os.OpenFile(u.Path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", u.Path, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("stdio %q: %w", u.String(), errdefs.ErrInvalidArgument)
}

// startLogger runs a binary:// logging driver the way containerd's runc
// shim does: stdout on fd 3, stderr on fd 4, and fd 5 closed when ready.
func (p *processIO) startLogger(ctx context.Context, id string, u *url.URL) (stdout, stderr *os.File, retErr error) {
	ns, _ := namespaces.Namespace(ctx)
	var args []string
	for k, vs := range u.Query() {
		args = append(args, k)
		if len(vs) > 0 && vs[0] != "" {
			args = append(args, vs[0])
		}
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
		if retErr != nil {
			stdout.Close()
			stderr.Close()
		}
	}()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	stdout = outW
	files = append(files, outR)
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	stderr = errW
	files = append(files, errR)
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	files = append(files, readyR, readyW)

	cmd := exec.Command(u.Path, args...)
	cmd.Env = append(os.Environ(), "CONTAINER_ID="+id, "CONTAINER_NAMESPACE="+ns)
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start logger %s: %w", u.Path, err)
	}
	readyW.Close()
	files = files[:3]
	// The logger closes fd 5 (or writes to it) once it is ready.
	ready := make(chan error, 1)
	go func() {
		_, err := readyR.Read(make([]byte, 1))
		if errors.Is(err, io.EOF) {
			err = nil
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return nil, nil, fmt.Errorf("logger %s: %w", u.Path, err)
		}
	case <-time.After(10 * time.Second):
		return nil, nil, fmt.Errorf("logger %s did not become ready: %w", u.Path, errdefs.ErrUnavailable)
	}
	return stdout, stderr, nil
}

// releaseChild closes the shim's copies of the files the instance
// inherited. Until they are closed, readers never see EOF.
func (p *processIO) releaseChild() {
	for _, f := range []*os.File{p.child.Stdin, p.child.Stdout, p.child.Stderr} {
		if f != nil {
			f.Close()
		}
	}
	p.child = sandbox.Stdio{}
}

// CloseStdin closes the guest's stdin (CloseIO).
func (p *processIO) CloseStdin() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stdinW != nil {
		p.stdinW.Close()
		p.stdinW = nil
	}
}

// Close releases everything the shim holds for the process.
func (p *processIO) Close() {
	p.closeOnce.Do(func() {
		p.CloseStdin()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.keep {
			c.Close()
		}
		// Loggers exit on EOF once the instance's write ends are gone;
		// the shim's reaper collects them.
		p.keep = nil
	})
}

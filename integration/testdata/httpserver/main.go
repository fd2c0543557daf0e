//go:build wasip1

// Command httpserver is a Go wasip1 HTTP server for the shim's network
// tests. WASI preview 1 cannot open sockets, so it serves on the TCP
// listeners the host opened for it, which the guest environment variable
// WASI_TCP_LISTEN names ("host:port" entries, comma-separated; see
// sandbox/listeners_linux.go). GET / answers "hello from wasm on <entry>",
// entry being the listener's WASI_TCP_LISTEN entry (a WASI guest cannot ask
// a socket for its address). Once every listener is served it prints
// "listening on <entry> (fd N)" for each on stdout.
package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"unsafe"
)

const (
	// filetypeSocketStream is WASI's filetype of a TCP socket.
	filetypeSocketStream = 6
	// errnoBadf is WASI's EBADF: no such file descriptor.
	errnoBadf = 8
)

// fdFdstatGet is WASI's fd_fdstat_get; stat receives a 24-byte fdstat whose
// first byte is the file type. The syscall package keeps its own unexported.
//
//go:wasmimport wasi_snapshot_preview1 fd_fdstat_get
func fdFdstatGet(fd int32, stat unsafe.Pointer) int32

func main() {
	if err := serve(); err != nil {
		fmt.Fprintln(os.Stderr, "httpserver:", err)
		os.Exit(1)
	}
}

// serve serves every listener and returns when one of them fails.
func serve() error {
	var entries []string
	for _, e := range strings.Split(os.Getenv("WASI_TCP_LISTEN"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return errors.New("WASI_TCP_LISTEN names no listener")
	}
	fds, err := socketFDs()
	if err != nil {
		return err
	}
	if len(fds) != len(entries) {
		return fmt.Errorf("WASI_TCP_LISTEN names %d listeners, the host gave %d (fds %v)", len(entries), len(fds), fds)
	}
	failed := make(chan error, len(fds))
	for i, fd := range fds {
		// A wasm module is one thread: a blocking accept would stop every
		// goroutine. Non-blocking, the accept parks in Go's poller instead.
		if err := syscall.SetNonblock(fd, true); err != nil {
			return fmt.Errorf("fd %d: %w", fd, err)
		}
		f := os.NewFile(uintptr(fd), entries[i])
		ln, err := net.FileListener(f)
		f.Close() // the listener holds its own reference to the descriptor
		if err != nil {
			return fmt.Errorf("fd %d: %w", fd, err)
		}
		server := &http.Server{Handler: greeter(entries[i])}
		go func() { failed <- server.Serve(ln) }()
	}
	for i, fd := range fds {
		fmt.Printf("listening on %s (fd %d)\n", entries[i], fd)
	}
	return <-failed
}

// socketFDs returns the guest's TCP socket descriptors in order: the
// listeners, which the host places after stdio and the preopened
// directories.
func socketFDs() ([]int, error) {
	var fds []int
	for fd := int32(3); ; fd++ {
		var stat [3]uint64 // fdstat: 24 bytes, 8-byte aligned
		switch errno := fdFdstatGet(fd, unsafe.Pointer(&stat[0])); errno {
		case 0:
			if byte(stat[0]) == filetypeSocketStream {
				fds = append(fds, int(fd))
			}
		case errnoBadf:
			// The host numbers its descriptors without gaps.
			return fds, nil
		default:
			return nil, fmt.Errorf("fd_fdstat_get(%d): errno %d", fd, errno)
		}
	}
}

// greeter answers GET / with the listener it came through.
func greeter(entry string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from wasm on %s\n", entry)
	})
	return mux
}

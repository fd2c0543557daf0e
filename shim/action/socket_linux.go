//go:build linux

package action

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// unixScheme prefixes a socket address that names a file; an address
// without it names an abstract socket (containerd before 1.5 made those).
const unixScheme = "unix://"

// socketAddress returns the address of group's shim socket: a file in dir
// named by a hash of containerd's address, the namespace and the group, so
// that two daemons on one node, or two namespaces, never share a server.
// containerd's own shims name theirs the same way.
func socketAddress(dir, grpcAddress, namespace, group string) string {
	sum := sha256.Sum256([]byte(filepath.Join(grpcAddress, namespace, group)))
	return unixScheme + filepath.Join(dir, hex.EncodeToString(sum[:]))
}

// socketPath returns the path to listen on or dial for address.
func socketPath(address string) string {
	if path, ok := strings.CutPrefix(address, unixScheme); ok {
		return path
	}
	return "\x00" + address
}

// listen creates the socket at address, readable by root only. An address
// in use is an error that wraps syscall.EADDRINUSE.
func listen(address string) (*net.UnixListener, error) {
	path := socketPath(address)
	abstract := strings.HasPrefix(path, "\x00")
	if !abstract {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if !abstract {
		if err := os.Chmod(path, 0o600); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// removeSocket removes the socket file of address, if it is one.
func removeSocket(address string) error {
	path := socketPath(address)
	if strings.HasPrefix(path, "\x00") {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// dial connects to the shim socket at address.
func dial(address string) (net.Conn, error) {
	return net.DialTimeout("unix", socketPath(address), 2*time.Second)
}

// canConnect reports whether a server listens at address.
func canConnect(address string) bool {
	conn, err := dial(address)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// readAddress reads the shim's address recorded in a bundle: the address
// file the start action writes for containerd 1.x, or else the
// bootstrap.json containerd 2.x writes with the start action's reply.
func readAddress(bundle string) (string, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "address"))
	if errors.Is(err, fs.ErrNotExist) {
		return readBootstrapAddress(bundle)
	}
	if err != nil {
		return "", err
	}
	if len(data) == 0 {
		return "", fmt.Errorf("empty address file in %s", bundle)
	}
	return string(data), nil
}

// readBootstrapAddress reads the address from containerd 2.x's
// bootstrap.json, the BootstrapResult as encoding/json writes it.
func readBootstrapAddress(bundle string) (string, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "bootstrap.json"))
	if err != nil {
		return "", err
	}
	var result struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(data, &result); err != nil {
		return "", fmt.Errorf("bootstrap.json in %s: %w", bundle, err)
	}
	if result.Address == "" {
		return "", fmt.Errorf("no address in bootstrap.json in %s", bundle)
	}
	return result.Address, nil
}

// socketLock serializes the binding, replacement and removal of shim
// sockets on the node (see serveGroup). It is one file for every group,
// held by a start action that found no live server until it has spawned
// one (a few milliseconds), and by a delete action while it removes a dead
// socket. A variable only so that tests need not take the node's.
var socketLock = "/run/containerd-shim-wasmedge/socket.lock"

// lockSockets takes socketLock and returns its release.
func lockSockets() (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(socketLock), 0o755); err != nil {
		return nil, fmt.Errorf("socket lock: %w", err)
	}
	f, err := os.OpenFile(socketLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("socket lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("socket lock: %w", err)
	}
	// Closing the file releases the lock.
	return func() { f.Close() }, nil
}

// addressInUse reports whether err says the socket address is taken.
func addressInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE)
}

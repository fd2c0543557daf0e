//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental/sock"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// listenEnv is the guest environment variable that asks the instance for
// TCP listeners, the only sockets WASI preview 1 (as wazero implements it)
// can give a guest: the host listens, the guest accepts (sock_accept) and
// reads and writes the connections it gets.
//
// Its value is a comma-separated list of "host:port" entries, as
// wasmtime's --tcplisten takes them, one listener each:
//
//	WASI_TCP_LISTEN=:8080                        every address of the container's network (IPv4 and IPv6)
//	WASI_TCP_LISTEN=0.0.0.0:8080,127.0.0.1:9000  two listeners
//	WASI_TCP_LISTEN=[::1]:8080                   an IPv6 address, in brackets
//
// host is empty or an IP address (no names: nothing is looked up), port is
// 1 to 65535. The instance runs in the container's network namespace (a
// pod's, under Kubernetes), so ":8080" listens on the pod IP.
//
// The guest finds its listeners among its file descriptors: 0 to 2 are
// stdio, 3 is the preopened root directory "/", and the listeners follow in
// the order of the variable: 4, 5, ... (wazero numbers them after the
// preopened directories). The variable stays in the guest's environment, so
// that it can tell how many listeners it has and which is which. Only the
// container's own guest gets listeners: an exec sees the variable (it
// shares the container's environment) but not the sockets, which the
// container's instance holds.
//
// The value is checked at Create (checkListenEnv); the sockets are bound
// when the guest starts (listenContext), so a port already taken fails the
// guest at Start, as a trap does ("listen tcp :8080: bind: address already
// in use").
const listenEnv = "WASI_TCP_LISTEN"

// listenAddress is one listener asked for in listenEnv.
type listenAddress struct {
	// addr is the IP address to listen on; the zero Addr means every address.
	addr netip.Addr
	port uint16
}

// wazeroHost renders the address as the host part wazero joins to the port
// with a colon: IPv6 addresses need their brackets.
func (l listenAddress) wazeroHost() string {
	switch {
	case !l.addr.IsValid():
		return ""
	case l.addr.Is6():
		return "[" + l.addr.String() + "]"
	default:
		return l.addr.String()
	}
}

// overlaps reports whether Linux would refuse one of the two listeners
// once the other holds its port: same address, or a wildcard covering the
// other's. Go listens on ":port" and "[::]:port" with a dual-stack socket,
// which covers IPv4 addresses too; "0.0.0.0" covers only IPv4 ones.
func (l listenAddress) overlaps(other listenAddress) bool {
	if l.port != other.port {
		return false
	}
	if l.addr == other.addr || l.dualStackWildcard() || other.dualStackWildcard() {
		return true
	}
	return (l.addr == netip.IPv4Unspecified() && other.addr.Is4()) ||
		(other.addr == netip.IPv4Unspecified() && l.addr.Is4())
}

// dualStackWildcard reports whether the listener takes its port on every
// address of both families.
func (l listenAddress) dualStackWildcard() bool {
	return !l.addr.IsValid() || l.addr == netip.IPv6Unspecified()
}

// checkListenEnv reports a listenEnv value in the guest environment env
// ("KEY=value" entries) that cannot be honoured, as an invalid-argument
// failure, so that Create refuses the container before anything runs.
func checkListenEnv(env []string) error {
	_, err := listenAddressesIn(env)
	return err
}

// listenContext returns ctx carrying the TCP listeners the guest environment
// env asks for in listenEnv; wazero reads them from the context given to
// InstantiateModule and binds them there, so call it when the guest starts.
// Without listeners ctx comes back as it is. With listeners, it also sweeps
// the connections the guest closed for as long as ctx lives (see
// sweepClosedSockets).
func listenContext(ctx context.Context, env []string) (context.Context, error) {
	addresses, err := listenAddressesIn(env)
	if err != nil || len(addresses) == 0 {
		return ctx, err
	}
	config := sock.NewConfig()
	for _, a := range addresses {
		config = config.WithTCPListener(a.wazeroHost(), int(a.port))
	}
	go sweepClosedSockets(ctx, socketSweepInterval)
	return sock.WithConfig(ctx, config), nil
}

// socketSweepInterval is how long a connection the guest closed may stay
// open at most (see sweepClosedSockets).
const socketSweepInterval = time.Second

// sweepClosedSockets collects garbage every interval until ctx is done.
// wazero 1.12's fd_close does not close an accepted connection (its Close
// marks the socket closed and then calls Shutdown, which closes nothing
// once the mark is set); the host socket is only closed by its finalizer,
// when the garbage collector finds it unreachable. Little is allocated on
// the host side of a server, so collections are rare (Go forces one every
// two minutes): meanwhile the peer gets no end of file, and each
// connection holds a file descriptor, until the limit on them makes
// accepting fail. A collection of the instance's small heap costs a few
// milliseconds.
func sweepClosedSockets(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			runtime.GC()
		}
	}
}

// listenAddressesIn returns the listeners env asks for.
func listenAddressesIn(env []string) ([]listenAddress, error) {
	value, ok := lookupEnv(env, listenEnv)
	if !ok {
		return nil, nil
	}
	addresses, err := parseListenAddresses(value)
	if err != nil {
		return nil, invalidf("%s=%s: %w", listenEnv, value, err)
	}
	return addresses, nil
}

// lookupEnv returns the value of key in env as the guest sees it: the last
// entry wins, as with wazero's WithEnv.
func lookupEnv(env []string, key string) (value string, found bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			value, found = v, true
		}
	}
	return value, found
}

// parseListenAddresses parses a listenEnv value. Blanks around entries are
// ignored; an empty value asks for nothing, an empty entry is an error (a
// stray comma more likely hides a mistake than means anything).
func parseListenAddresses(value string) ([]listenAddress, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var addresses []listenAddress
	for _, entry := range strings.Split(value, ",") {
		entry = strings.TrimSpace(entry)
		a, err := parseListenAddress(entry)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", entry, err)
		}
		for _, other := range addresses {
			// Caught here, the conflict fails Create instead of Start.
			if a.overlaps(other) {
				return nil, fmt.Errorf("entry %q: port %d is already asked for", entry, a.port)
			}
		}
		addresses = append(addresses, a)
	}
	return addresses, nil
}

// parseListenAddress parses one "host:port" entry.
func parseListenAddress(entry string) (listenAddress, error) {
	if entry == "" {
		return listenAddress{}, fmt.Errorf("empty entry")
	}
	host, portText, err := net.SplitHostPort(entry)
	if err != nil {
		if _, numErr := strconv.ParseUint(entry, 10, 16); numErr == nil {
			return listenAddress{}, fmt.Errorf("want host:port, such as :%s for every address", entry)
		}
		return listenAddress{}, fmt.Errorf("want host:port: %w", err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		// Port 0 would make the kernel pick one, which nobody could then
		// find: WASI gives the guest no way to ask its listener's address.
		return listenAddress{}, fmt.Errorf("port %q is not a number from 1 to 65535", portText)
	}
	a := listenAddress{port: uint16(port)}
	if host != "" {
		if a.addr, err = netip.ParseAddr(host); err != nil {
			return listenAddress{}, fmt.Errorf("host %q is not an IP address (names are not looked up; leave it empty for every address)", host)
		}
		// An IPv4 address written as IPv6 ("::ffff:10.0.0.1") is the IPv4
		// address to the kernel.
		a.addr = a.addr.Unmap()
	}
	return a, nil
}

// The one directory moduleConfig preopens for the guest, and its fd.
const (
	rootPreopenFD   = 3
	rootPreopenPath = "/"
)

// WASI errno values the preopen functions return.
const (
	errnoSuccess     = 0
	errnoBadf        = 8
	errnoFault       = 21
	errnoNametoolong = 37
)

// instantiateWASI instantiates WASI preview 1 in rt for a guest configured
// by moduleConfig, whose only preopened directory is "/" at fd 3.
// fd_prestat_get and fd_prestat_dir_name answer for that directory only:
// wazero 1.12 presents every TCP listener to them as a preopened directory
// with an empty name, and wasi-libc (C, C++, Rust) strips the "/" of the
// root's name, finds two directories named "", and resolves every path
// against the later one, the listener: with a listener, any file access
// failed with ENOTDIR. Go's wasip1 port, which keeps the "/", was not
// affected. For any other fd they say EBADF, as wazero does for a
// descriptor that is not a preopened directory.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	host := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(host)
	i32 := api.ValueTypeI32
	// Exported again under the same names, these replace wazero's.
	host.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(fdPrestatGet), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("fd", "result.prestat").
		Export("fd_prestat_get")
	host.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(fdPrestatDirName), []api.ValueType{i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("fd", "result.path", "result.path_len").
		Export("fd_prestat_dir_name")
	_, err := host.Instantiate(ctx)
	return err
}

// fdPrestatGet is WASI's fd_prestat_get(fd, *prestat) for the root
// preopen: a prestat is the tag 0 (directory), padding, and the length of
// the name, little-endian.
func fdPrestatGet(_ context.Context, mod api.Module, stack []uint64) {
	fd, result := api.DecodeI32(stack[0]), api.DecodeU32(stack[1])
	switch {
	case fd != rootPreopenFD:
		stack[0] = errnoBadf
	case !mod.Memory().WriteUint64Le(result, uint64(len(rootPreopenPath))<<32):
		stack[0] = errnoFault
	default:
		stack[0] = errnoSuccess
	}
}

// fdPrestatDirName is WASI's fd_prestat_dir_name(fd, *path, path_len) for
// the root preopen, with wazero's check of path_len: longer than the name
// is an error.
func fdPrestatDirName(_ context.Context, mod api.Module, stack []uint64) {
	fd, path, pathLen := api.DecodeI32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	switch {
	case fd != rootPreopenFD:
		stack[0] = errnoBadf
	case pathLen > uint32(len(rootPreopenPath)):
		stack[0] = errnoNametoolong
	case !mod.Memory().Write(path, []byte(rootPreopenPath)[:pathLen]):
		stack[0] = errnoFault
	default:
		stack[0] = errnoSuccess
	}
}

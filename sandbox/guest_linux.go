//go:build linux

package sandbox

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/guestfs"
)

const (
	// commandEntry is the export a WASI command runs.
	commandEntry = "_start"
	// reactorInit is the export a WASI reactor runs before any other.
	reactorInit = "_initialize"
)

// guest is a compiled module with its WASI host, ready to instantiate.
type guest struct {
	// moduleSize is the size of the module file, in bytes.
	moduleSize int
	function   string
	runtime    wazero.Runtime
	module     wazero.CompiledModule
	config     wazero.ModuleConfig
	// report is what readying the guest took.
	report Report
	// listenEnv is the environment whose WASI_TCP_LISTEN the guest gets
	// listeners for (listenContext): the container's; nil for an exec.
	listenEnv []string
}

// newGuest compiles the module and checks everything that can be checked
// before it runs, so that Create, not Start, reports a guest that cannot run.
func newGuest(ctx context.Context, rc *oci.RunConfig, cacheDir string, memoryLimitPages uint32) (*guest, error) {
	if err := checkStrings(rc); err != nil {
		return nil, err
	}
	if err := checkListenEnv(rc.Env); err != nil {
		return nil, err
	}
	var report Report
	began := time.Now()
	wasm, err := readModule(rc.Rootfs, rc.Module)
	if err != nil {
		return nil, err
	}
	report.ModuleRead = time.Since(began)

	began = time.Now()
	rt, module, cacheHit, err := compile(ctx, wasm, cacheDir, memoryLimitPages)
	if err != nil {
		return nil, &failure{kind: kindInvalid, err: fmt.Errorf("compile module %q: %w", rc.Module, err)}
	}
	report.Compile, report.CacheHit = time.Since(began), cacheHit

	began = time.Now()
	if err := instantiateWASI(ctx, rt); err != nil {
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := checkImports(rt, module); err != nil {
		return nil, invalidf("module %q: %w", rc.Module, err)
	}
	report.Instantiate = time.Since(began)

	if err := checkEntry(module, rc.Function); err != nil {
		return nil, invalidf("module %q: %w", rc.Module, err)
	}
	root, err := guestfs.New(rc.Rootfs)
	if err != nil {
		return nil, fmt.Errorf("guest filesystem: %w", err)
	}
	config := moduleConfig(rc, root)
	if rc.Function != "" {
		// A reactor runs _initialize (when it has one) and then the named
		// export; a command's _start must not run on instantiation.
		if _, ok := module.ExportedFunctions()[reactorInit]; ok {
			config = config.WithStartFunctions(reactorInit)
		} else {
			config = config.WithStartFunctions()
		}
	}
	return &guest{moduleSize: len(wasm), function: rc.Function, runtime: rt, module: module, config: config, report: report}, nil
}

// run instantiates the module, which runs _start (or _initialize), calls the
// entry function of a reactor, and returns the exit status and whether the
// guest trapped. started runs just before the guest's first instruction.
func (g *guest) run(ctx context.Context, started func()) (status int, trapped bool) {
	ctx, err := listenContext(ctx, g.listenEnv) // cannot fail: checked at Create
	if err != nil {
		return exitStatus(err)
	}
	started()
	instance, err := g.runtime.InstantiateModule(ctx, g.module, g.config)
	if err == nil && g.function != "" {
		_, err = instance.ExportedFunction(g.function).Call(ctx)
	}
	return exitStatus(err)
}

// exitStatus turns the guest's outcome into the process's exit status and
// says whether it was a trap; a trap is explained on the guest's stderr, as
// WasmEdge does.
func exitStatus(err error) (status int, trapped bool) {
	if err == nil {
		return 0, false
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		// The kernel keeps the low 8 bits, as for a native exit(n).
		return int(exit.ExitCode() & 0xff), false
	}
	fmt.Fprintf(os.Stderr, "wasm trap: %v\n", err)
	return TrapExitStatus, true
}

// readModule reads the module file, resolved inside the rootfs so that a
// symlink cannot make the shim read a host file.
func readModule(rootfs, name string) ([]byte, error) {
	root, err := os.OpenFile(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, tagged(kindOfPathError(err), fmt.Errorf("open rootfs: %w", err))
	}
	defer root.Close()
	f, err := guestfs.OpenInRoot(root, name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, tagged(kindOfPathError(err), fmt.Errorf("open module %q: %w", name, err))
	}
	defer f.Close()
	wasm, err := io.ReadAll(f)
	if err != nil {
		return nil, tagged(kindInvalid, fmt.Errorf("read module %q: %w", name, err))
	}
	return wasm, nil
}

// kindOfPathError says whether a failed open means "not there".
func kindOfPathError(err error) failureKind {
	if errors.Is(err, fs.ErrNotExist) {
		return kindNotFound
	}
	return kindInvalid
}

// compile compiles the module with the compiler engine and reports whether
// the compiled code came from the cache. A broken cache entry makes wazero
// fail the compilation, and must not stop the container: then it compiles
// once more without the cache.
func compile(ctx context.Context, wasm []byte, cacheDir string, memoryLimitPages uint32) (wazero.Runtime, wazero.CompiledModule, bool, error) {
	config := wazero.NewRuntimeConfigCompiler()
	if memoryLimitPages > 0 {
		// Capacity from the maximum: wazero reserves the capped memory
		// once instead of copying it on every memory.grow, which would need
		// twice the memory at each step and get the process OOM-killed
		// before the cap is reached.
		config = config.WithMemoryLimitPages(memoryLimitPages).WithMemoryCapacityFromMax(true)
	}
	if cacheDir != "" {
		if cache, err := wazero.NewCompilationCacheWithDir(cacheDir); err == nil {
			// wazero does not say whether it found the module in the cache;
			// a miss writes a new entry.
			before, listed := listCacheEntries(cacheDir)
			rt, module, err := compileWith(ctx, wasm, config.WithCompilationCache(cache))
			if err == nil {
				after, listedAfter := listCacheEntries(cacheDir)
				return rt, module, listed && listedAfter && !gainedEntry(before, after), nil
			}
		}
	}
	rt, module, err := compileWith(ctx, wasm, config)
	return rt, module, false, err
}

func compileWith(ctx context.Context, wasm []byte, config wazero.RuntimeConfig) (wazero.Runtime, wazero.CompiledModule, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, config)
	module, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, err
	}
	return rt, module, nil
}

// cacheEntryStamp tells one version of a cache entry from another: wazero
// replaces a stale entry by removing it and renaming a new file in, whose
// inode number the file system may well reuse, but not also its size and
// modification time.
type cacheEntryStamp struct {
	inode, size uint64
	modified    int64
}

// cacheListing maps the path of each entry of a compilation cache to its
// stamp.
type cacheListing map[string]cacheEntryStamp

// listCacheEntries lists the entries under a compilation cache directory,
// leaving out wazero's temporary files; false if it could not be read.
func listCacheEntries(dir string) (cacheListing, bool) {
	entries := cacheListing{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || strings.HasSuffix(d.Name(), ".tmp") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			// Removed meanwhile (a stale entry): not an entry any more.
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			entries[path] = cacheEntryStamp{inode: st.Ino, size: uint64(st.Size), modified: info.ModTime().UnixNano()}
		}
		return nil
	})
	return entries, err == nil
}

// gainedEntry reports whether after holds an entry before did not. Another
// instance compiling another module into the same directory at the same
// moment makes a hit look like a miss; the metric errs on the side of misses.
func gainedEntry(before, after cacheListing) bool {
	for path, stamp := range after {
		if was, ok := before[path]; !ok || was != stamp {
			return true
		}
	}
	return false
}

// checkImports makes sure every function and memory the module imports is
// provided by a host module, with the same signature; wazero would only find
// out when the guest starts.
func checkImports(rt wazero.Runtime, module wazero.CompiledModule) error {
	for _, want := range module.ImportedFunctions() {
		moduleName, name, _ := want.Import()
		host := rt.Module(moduleName)
		if host == nil {
			return fmt.Errorf("imports function %s.%s, but no host module %q is available", moduleName, name, moduleName)
		}
		have, ok := host.ExportedFunctionDefinitions()[name]
		if !ok {
			return fmt.Errorf("imports function %s.%s, which the host does not provide", moduleName, name)
		}
		if !slices.Equal(want.ParamTypes(), have.ParamTypes()) || !slices.Equal(want.ResultTypes(), have.ResultTypes()) {
			return fmt.Errorf("imports function %s.%s as %s, but the host provides %s",
				moduleName, name, signature(want), signature(have))
		}
	}
	for _, want := range module.ImportedMemories() {
		moduleName, name, _ := want.Import()
		return fmt.Errorf("imports memory %s.%s, which no host module provides", moduleName, name)
	}
	return nil
}

// signature renders a function type in the text format's style.
func signature(def api.FunctionDefinition) string {
	names := func(types []api.ValueType) string {
		s := make([]string, len(types))
		for i, t := range types {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, " ")
	}
	return fmt.Sprintf("(func (param %s) (result %s))", names(def.ParamTypes()), names(def.ResultTypes()))
}

// checkEntry makes sure the module exports what the container runs: _start
// for a command, or the named function, without parameters, for a reactor.
func checkEntry(module wazero.CompiledModule, function string) error {
	exports := module.ExportedFunctions()
	if function == "" {
		if _, ok := exports[commandEntry]; !ok {
			return fmt.Errorf("exports no %s function, so it is not a WASI command; "+
				"name the function to run as module.wasm#function (exported functions: %s)",
				commandEntry, exportList(exports))
		}
		return nil
	}
	def, ok := exports[function]
	if !ok {
		return fmt.Errorf("does not export function %q (exported functions: %s)", function, exportList(exports))
	}
	if n := len(def.ParamTypes()); n > 0 {
		return fmt.Errorf("function %q takes %d parameters; only a function without parameters can be run", function, n)
	}
	return nil
}

// exportList lists export names, sorted, for error messages.
func exportList(exports map[string]api.FunctionDefinition) string {
	if len(exports) == 0 {
		return "none"
	}
	names := make([]string, 0, len(exports))
	for name := range exports {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// checkStrings rejects arguments and environment entries wazero cannot pass
// to the guest, now rather than at Start.
func checkStrings(rc *oci.RunConfig) error {
	for _, arg := range rc.Args {
		if strings.IndexByte(arg, 0) >= 0 {
			return invalidf("argument %q contains a NUL byte", arg)
		}
	}
	for _, kv := range rc.Env {
		if strings.IndexByte(kv, 0) >= 0 {
			return invalidf("environment entry %q contains a NUL byte", kv)
		}
	}
	return nil
}

// moduleConfig gives the guest its arguments, environment, real clocks and
// randomness, the instance's standard streams and the rootfs as "/".
func moduleConfig(rc *oci.RunConfig, root *guestfs.FS) wazero.ModuleConfig {
	config := wazero.NewModuleConfig().
		WithArgs(rc.Args...).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdin(os.Stdin).
		WithStdout(os.Stdout).
		WithStderr(os.Stderr).
		WithFSConfig(wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(root, "/"))
	hasPWD := false
	for _, kv := range rc.Env {
		key, value, ok := strings.Cut(kv, "=")
		if !ok || key == "" {
			continue
		}
		hasPWD = hasPWD || key == "PWD"
		config = config.WithEnv(key, value)
	}
	if !hasPWD && rc.Cwd != "" && rc.Cwd != "/" {
		// WASI has no working directory; Go's wasip1 port takes it from PWD
		// (wasi-libc programs start at "/" whatever it says). At "/", the
		// default of both, nothing is added: guests may count their
		// environment (the WASI conformance suite does).
		config = config.WithEnv("PWD", rc.Cwd)
	}
	return config
}

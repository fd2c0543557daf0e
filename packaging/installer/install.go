package installer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// Installer installs the shim on the host mounted at HostRoot.
type Installer struct {
	// HostRoot is where the host's / is visible ("/" on the host itself).
	HostRoot string
	// Layout says which file to edit and how to restart containerd.
	Layout Layout
	// Runtime is the entry to add; its Path is where the shim goes.
	Runtime Runtime
	// ShimSource is the shim binary to copy to Runtime.Path; empty skips
	// the copy (the binary is installed by other means).
	ShimSource string
	// Runner runs host commands: the restart and `containerd --version`.
	Runner CommandRunner
	// ConfigVersion is the version of a containerd config the installer
	// creates; 0 asks the host's containerd which version it prefers.
	ConfigVersion int
	// DefaultSystemdCgroup is the SystemdCgroup option when the config has
	// no runc runtime to copy it from.
	DefaultSystemdCgroup bool
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
}

// Result says what an Install or Uninstall changed.
type Result struct {
	// BinaryChanged: the shim was copied (install) or removed (uninstall).
	BinaryChanged bool
	// ConfigChanged: the config file was written or deleted.
	ConfigChanged bool
	// Restarted: the restart command ran.
	Restarted bool
}

func (in *Installer) logf(format string, args ...any) {
	if in.Logf != nil {
		in.Logf(format, args...)
	}
}

// host maps a host path to where the installer sees it.
func (in *Installer) host(p string) string { return filepath.Join(in.HostRoot, p) }

// readHost reads a host file; a missing file is (nil, false, nil).
func (in *Installer) readHost(p string) ([]byte, bool, error) {
	b, err := os.ReadFile(in.host(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// Install copies the shim, edits the config and, when the config changed,
// restarts containerd. Running it again changes nothing and restarts
// nothing.
func (in *Installer) Install(ctx context.Context) (Result, error) {
	var res Result
	if err := in.Runtime.Validate(); err != nil {
		return res, err
	}
	if in.ShimSource != "" {
		if in.Runtime.Path == "" {
			return res, fmt.Errorf("%w: a shim to copy needs a runtime path", errdefs.ErrInvalidArgument)
		}
		changed, err := copyIfDifferent(in.ShimSource, in.host(in.Runtime.Path))
		if err != nil {
			return res, fmt.Errorf("installing the shim binary: %w", err)
		}
		res.BinaryChanged = changed
		if changed {
			in.logf("installed %s", in.Runtime.Path)
		}
	}
	current, existed, err := in.readHost(in.Layout.ConfigPath)
	if err != nil {
		return res, err
	}
	edited, err := in.editedConfig(ctx, current, existed)
	if err != nil {
		return res, fmt.Errorf("editing %s: %w", in.Layout.ConfigPath, err)
	}
	if existed && bytes.Equal(current, edited) {
		in.logf("%s already registers runtime %q", in.Layout.ConfigPath, in.Runtime.Name)
		return res, nil
	}
	if err := writeFileAtomic(in.host(in.Layout.ConfigPath), edited); err != nil {
		return res, err
	}
	res.ConfigChanged = true
	in.logf("registered runtime %q in %s", in.Runtime.Name, in.Layout.ConfigPath)
	if err := in.restart(ctx, &res); err != nil {
		// Put the old config back: otherwise the next run finds the block
		// in place, changes nothing and never restarts containerd.
		if rerr := in.restore(current, existed); rerr != nil {
			return res, errors.Join(err, fmt.Errorf("restoring %s: %w", in.Layout.ConfigPath, rerr))
		}
		res.ConfigChanged = false
		return res, err
	}
	return res, nil
}

// restore puts back a config file as it was before an edit.
func (in *Installer) restore(content []byte, existed bool) error {
	if !existed {
		return os.Remove(in.host(in.Layout.ConfigPath))
	}
	return writeFileAtomic(in.host(in.Layout.ConfigPath), content)
}

// Uninstall removes the block (deleting a file the installer created),
// restarts containerd if anything changed, then removes the shim binary:
// containers still running keep their shim processes.
func (in *Installer) Uninstall(ctx context.Context) (Result, error) {
	var res Result
	current, existed, err := in.readHost(in.Layout.ConfigPath)
	if err != nil {
		return res, err
	}
	if existed {
		revert := RevertConfig
		if in.Layout.Kind == KindK3s || in.Layout.Kind == KindRKE2 {
			revert = RevertK3sTemplate
		}
		out, remove, err := revert(current)
		if err != nil {
			return res, fmt.Errorf("reverting %s: %w", in.Layout.ConfigPath, err)
		}
		switch {
		case remove:
			if err := os.Remove(in.host(in.Layout.ConfigPath)); err != nil {
				return res, err
			}
			res.ConfigChanged = true
			in.logf("removed %s", in.Layout.ConfigPath)
		case !bytes.Equal(out, current):
			if err := writeFileAtomic(in.host(in.Layout.ConfigPath), out); err != nil {
				return res, err
			}
			res.ConfigChanged = true
			in.logf("removed runtime %q from %s", in.Runtime.Name, in.Layout.ConfigPath)
		}
	}
	if res.ConfigChanged {
		if err := in.restart(ctx, &res); err != nil {
			return res, err
		}
	}
	if in.Runtime.Path != "" {
		err := os.Remove(in.host(in.Runtime.Path))
		switch {
		case err == nil:
			res.BinaryChanged = true
			in.logf("removed %s", in.Runtime.Path)
		case !errors.Is(err, fs.ErrNotExist):
			return res, err
		}
	}
	return res, nil
}

// restart runs the layout's restart command, if it has one.
func (in *Installer) restart(ctx context.Context, res *Result) error {
	if len(in.Layout.Restart) == 0 {
		in.logf("%s reloads containerd by itself", in.Layout.Kind)
		return nil
	}
	if in.Runner == nil {
		return fmt.Errorf("%w: no command runner to restart containerd", errdefs.ErrFailedPrecondition)
	}
	in.logf("restarting containerd: %s", strings.Join(in.Layout.Restart, " "))
	if _, err := in.Runner.Run(ctx, in.Layout.Restart); err != nil {
		return fmt.Errorf("restarting containerd: %w", err)
	}
	res.Restarted = true
	return nil
}

// editedConfig computes the new content of the layout's config file.
func (in *Installer) editedConfig(ctx context.Context, current []byte, existed bool) ([]byte, error) {
	switch in.Layout.Kind {
	case KindK3s, KindRKE2:
		rendered, ok, err := in.readHost(in.Layout.RenderedPath)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s does not exist; start %s once first", errdefs.ErrFailedPrecondition, in.Layout.RenderedPath, in.Layout.Kind)
		}
		return EditK3sTemplate(current, existed, rendered, in.Runtime)
	case KindK0s:
		return in.k0sDropIn()
	default:
		opts := EditOptions{DefaultVersion: in.ConfigVersion, DefaultSystemdCgroup: in.DefaultSystemdCgroup}
		if opts.DefaultVersion == 0 && in.Layout.Kind == KindContainerd && configuresNothing(current) {
			opts.DefaultVersion = in.daemonConfigVersion(ctx)
		}
		return EditConfig(current, existed, in.Runtime, opts)
	}
}

// configuresNothing reports a config (outside our block) without a single
// setting, for which the installer writes a complete config.
func configuresNothing(content []byte) bool {
	base, _, _, err := RemoveBlock(content)
	if err != nil {
		return false
	}
	doc, err := parseConfig(base)
	return err == nil && len(doc) == 0
}

// daemonConfigVersion is the config version the host's containerd prefers:
// 3 for containerd 2.x, 2 for 1.x and when it cannot be asked.
func (in *Installer) daemonConfigVersion(ctx context.Context) int {
	if in.Runner == nil {
		return 2
	}
	out, err := in.Runner.Run(ctx, []string{"containerd", "--version"})
	if err != nil {
		in.logf("cannot ask containerd for its version (%v); writing a version 2 config", err)
		return 2
	}
	return ConfigVersionForDaemon(string(out))
}

var daemonVersion = regexp.MustCompile(`(?:^|\s)v?(\d+)\.\d+`)

// ConfigVersionForDaemon maps `containerd --version` output to the config
// version that containerd reads without migrating: 3 from containerd 2.0
// on, 2 before (and when the output names no version).
func ConfigVersionForDaemon(versionOutput string) int {
	m := daemonVersion.FindStringSubmatch(versionOutput)
	if m == nil {
		return 2
	}
	if major, _ := strconv.Atoi(m[1]); major >= 2 {
		return 3
	}
	return 2
}

// k0sDropIn builds the k0s drop-in in the version of k0s's CRI config,
// after checking that k0s applies drop-ins and that no other drop-in
// already defines the runtime.
func (in *Installer) k0sDropIn() ([]byte, error) {
	main, ok, err := in.readHost(k0sConfigPath)
	if err != nil {
		return nil, err
	}
	if ok && !bytes.Contains(main, []byte(k0sManagedMarker)) {
		return nil, fmt.Errorf("%w: %s lacks %q, so k0s ignores drop-ins; add the runtime to it by hand",
			errdefs.ErrFailedPrecondition, k0sConfigPath, k0sManagedMarker)
	}
	version, systemd := 2, in.DefaultSystemdCgroup
	cri, ok, err := in.readHost(in.Layout.RenderedPath)
	if err != nil {
		return nil, err
	}
	if !ok {
		cri = main
	}
	if doc, err := parseConfig(cri); err == nil && len(doc) > 0 {
		if v, err := configVersion(doc); err == nil && v >= 2 {
			version = v
		}
		if s, ok := runcSystemdCgroup(doc, version); ok {
			systemd = s
		}
	}
	dir := path.Dir(in.Layout.ConfigPath)
	entries, err := os.ReadDir(in.host(dir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		if p == in.Layout.ConfigPath || !strings.HasSuffix(e.Name(), ".toml") {
			continue
		}
		b, _, err := in.readHost(p)
		if err != nil {
			return nil, err
		}
		doc, err := parseConfig(b)
		if err != nil {
			continue // k0s itself reports broken drop-ins
		}
		for _, v := range []int{2, 3} {
			if err := foreignRuntime(doc, v, in.Runtime.Name); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	return K0sDropIn(version, systemd, in.Runtime)
}

// copyIfDifferent copies src to dst (mode 0755) unless dst already has
// the same content. The copy is written beside dst and renamed over it,
// so a shim starting meanwhile sees the old binary or the new, never half.
func copyIfDifferent(src, dst string) (bool, error) {
	want, err := fileSum(src)
	if err != nil {
		return false, err
	}
	if have, err := fileSum(dst); err == nil && bytes.Equal(have, want) {
		return false, nil
	}
	in, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	return true, os.Rename(tmp.Name(), dst)
}

// fileSum is the SHA-256 of a file.
func fileSum(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// writeFileAtomic replaces p with data through a renamed temporary file,
// keeping p's permissions (0644 for a new file): containerd or k3s must
// never read a half-written config.
func writeFileAtomic(p string, data []byte) error {
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(p); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

package installer

import (
	"bytes"
	"fmt"

	"github.com/containerd/errdefs"
)

// K3sBaseTemplate is the line of a k3s config template that renders k3s's
// own config (k3s releases since September 2023); a template the installer
// creates is this line plus the runtime.
const K3sBaseTemplate = `{{ template "base" . }}`

// ForeignRuntimeError reports a runtime of the installer's name that the
// config defines outside the installer's block. Adding ours would define
// the TOML table twice, which makes the whole config invalid.
type ForeignRuntimeError struct {
	// Name is the runtime (CRI handler) name.
	Name string
	// Type is the foreign entry's runtime_type.
	Type string
}

// Error describes the clash.
func (e *ForeignRuntimeError) Error() string {
	return fmt.Sprintf("containerd config already defines runtime %q (runtime_type %q) outside the %q block; remove it or install under another runtime name",
		e.Name, e.Type, BlockBegin)
}

// Unwrap makes the error match errdefs.ErrAlreadyExists.
func (e *ForeignRuntimeError) Unwrap() error { return errdefs.ErrAlreadyExists }

// EditOptions say what to write into a config that configures nothing yet.
type EditOptions struct {
	// DefaultVersion is the config version for such a file (0 means 2,
	// which containerd 1.6 to 2.x all read).
	DefaultVersion int
	// DefaultSystemdCgroup is the SystemdCgroup option when there is no
	// runc runtime to copy it from.
	DefaultSystemdCgroup bool
}

// foreignRuntime returns the error for a runtime named like ours in doc.
func foreignRuntime(doc map[string]any, version int, name string) error {
	rt, ok := runtimeEntry(doc, version, name)
	if !ok {
		return nil
	}
	typ, _ := rt["runtime_type"].(string)
	return &ForeignRuntimeError{Name: name, Type: typ}
}

// EditConfig returns a containerd config (or MicroK8s config template)
// with the runtime's block set. exists tells whether the file was there: a
// file the installer creates is deleted again by RevertConfig. content
// stays byte for byte outside the block.
func EditConfig(content []byte, exists bool, rt Runtime, opts EditOptions) ([]byte, error) {
	base, _, _, err := RemoveBlock(content)
	if err != nil {
		return nil, err
	}
	doc, err := parseConfig(base)
	if err != nil {
		return nil, fmt.Errorf("%w: existing containerd config is not valid TOML, leaving it alone: %w", errdefs.ErrFailedPrecondition, err)
	}
	var (
		body    string
		version int
	)
	if len(doc) == 0 {
		// Comments only, or nothing: containerd runs on built-in defaults,
		// so write a complete config of the chosen version.
		version = opts.DefaultVersion
		if version == 0 {
			version = 2
		}
		body, err = rt.fullConfig(version, opts.DefaultSystemdCgroup)
	} else {
		if version, err = configVersion(doc); err != nil {
			return nil, err
		}
		if err := foreignRuntime(doc, version, rt.Name); err != nil {
			return nil, err
		}
		systemd, ok := runcSystemdCgroup(doc, version)
		if !ok {
			systemd = opts.DefaultSystemdCgroup
		}
		defaultName := defaultRuntimeName(doc, version)
		_, hasDefault := runtimeEntry(doc, version, defaultName)
		withRunc := version <= 2 && defaultName == "runc" && !hasDefault
		body, err = rt.tables(version, systemd, withRunc)
	}
	if err != nil {
		return nil, err
	}
	out, err := SetBlock(content, body, !exists)
	if err != nil {
		return nil, err
	}
	if err := checkRuntime(out, version, rt); err != nil {
		return nil, err
	}
	return out, nil
}

// RevertConfig removes the block. remove reports that the installer had
// created the file and nothing else is left in it, so the caller deletes
// the file instead of writing out.
func RevertConfig(content []byte) (out []byte, remove bool, err error) {
	rest, created, removed, err := RemoveBlock(content)
	if err != nil {
		return nil, false, err
	}
	return rest, removed && created && len(rest) == 0, nil
}

// EditK3sTemplate returns a k3s or RKE2 config template with the runtime's
// block. rendered is the config.toml k3s last generated: it gives the
// config version, the runc settings to mirror and any runtime k3s added on
// its own (k3s registers a "wasmedge" runtime when it finds a shim of that
// name on its PATH), and the edit is checked by parsing rendered plus the
// new block, which is what k3s will generate next. A template that does not
// exist is created as the base template plus the runtime; use
// RevertK3sTemplate to undo the edit.
func EditK3sTemplate(tmpl []byte, exists bool, rendered []byte, rt Runtime) ([]byte, error) {
	base, _, _, err := RemoveBlock(rendered)
	if err != nil {
		return nil, err
	}
	doc, err := parseConfig(base)
	if err != nil {
		return nil, fmt.Errorf("%w: k3s-generated config is not valid TOML: %w", errdefs.ErrFailedPrecondition, err)
	}
	if len(doc) == 0 {
		return nil, fmt.Errorf("%w: k3s-generated config is empty; start k3s once before installing", errdefs.ErrFailedPrecondition)
	}
	version, err := configVersion(doc)
	if err != nil {
		return nil, err
	}
	if err := foreignRuntime(doc, version, rt.Name); err != nil {
		return nil, err
	}
	systemd, _ := runcSystemdCgroup(doc, version)
	tables, err := rt.tables(version, systemd, false)
	if err != nil {
		return nil, err
	}
	// A created template starts with the base line, outside the block:
	// k3s copies the block's markers into config.toml, and the generated
	// config must not land between them.
	if !exists {
		tmpl = []byte(K3sBaseTemplate + "\n")
	}
	out, err := SetBlock(tmpl, tables, !exists)
	if err != nil {
		return nil, err
	}
	next := append(append(bytes.Clone(base), '\n'), tables...)
	if err := checkRuntime(next, version, rt); err != nil {
		return nil, err
	}
	return out, nil
}

// RevertK3sTemplate removes the block from a k3s or RKE2 template; remove
// reports a template the installer created that holds nothing else but the
// base line, which the caller deletes so that k3s goes back to its default.
func RevertK3sTemplate(content []byte) (out []byte, remove bool, err error) {
	rest, created, removed, err := RemoveBlock(content)
	if err != nil {
		return nil, false, err
	}
	return rest, removed && created && string(rest) == K3sBaseTemplate+"\n", nil
}

// K0sDropIn returns the drop-in file for k0s's /etc/k0s/containerd.d. k0s
// merges drop-ins that hold CRI settings into its own CRI config, so the
// file carries only the runtime, in the version of that CRI config.
func K0sDropIn(version int, systemdCgroup bool, rt Runtime) ([]byte, error) {
	tables, err := rt.tables(version, systemdCgroup, false)
	if err != nil {
		return nil, err
	}
	out, err := SetBlock(nil, versionLine(version)+"\n"+tables, true)
	if err != nil {
		return nil, err
	}
	if err := checkRuntime(out, version, rt); err != nil {
		return nil, err
	}
	return out, nil
}

// checkRuntime parses an edited config and confirms that containerd will
// find the runtime where the version puts it, with our type and path.
func checkRuntime(content []byte, version int, rt Runtime) error {
	doc, err := parseConfig(content)
	if err != nil {
		return fmt.Errorf("%w: the edited config would not be valid TOML (is the runtimes table written inline?): %w", errdefs.ErrFailedPrecondition, err)
	}
	got, ok := runtimeEntry(doc, version, rt.Name)
	if !ok {
		return fmt.Errorf("%w: the edited config has no runtime %q under plugins.%q", errdefs.ErrFailedPrecondition, rt.Name, criPluginKey(version))
	}
	if typ, _ := got["runtime_type"].(string); typ != rt.Type {
		return fmt.Errorf("%w: runtime %q has runtime_type %q after the edit, want %q", errdefs.ErrFailedPrecondition, rt.Name, typ, rt.Type)
	}
	if pth, _ := got["runtime_path"].(string); pth != rt.Path {
		return fmt.Errorf("%w: runtime %q has runtime_path %q after the edit, want %q", errdefs.ErrFailedPrecondition, rt.Name, pth, rt.Path)
	}
	return nil
}

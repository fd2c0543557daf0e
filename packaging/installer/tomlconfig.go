package installer

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/pelletier/go-toml/v2"
)

// criPluginKey is the plugin table that holds CRI runtimes in a containerd
// config of the given version: version 1 names plugins by short id, version
// 2 (containerd 1.x) uses the grpc plugin, and from version 3 (containerd
// 2.x) runtimes moved to the CRI runtime plugin.
func criPluginKey(version int) string {
	switch {
	case version <= 1:
		return "cri"
	case version == 2:
		return "io.containerd.grpc.v1.cri"
	default:
		return "io.containerd.cri.v1.runtime"
	}
}

// parseConfig decodes TOML into generic tables.
func parseConfig(content []byte) (map[string]any, error) {
	doc := map[string]any{}
	if err := toml.Unmarshal(content, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// configVersion is the version a containerd config declares; containerd
// reads a config without one as version 1.
func configVersion(doc map[string]any) (int, error) {
	raw, ok := doc["version"]
	if !ok {
		return 1, nil
	}
	v, ok := raw.(int64)
	if !ok || v < 1 {
		return 0, fmt.Errorf("%w: config version %v is not a positive integer", errdefs.ErrInvalidArgument, raw)
	}
	return int(v), nil
}

// ConfigVersion returns the version a containerd config file declares
// (1 when it has none, as containerd assumes).
func ConfigVersion(content []byte) (int, error) {
	doc, err := parseConfig(content)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
	}
	return configVersion(doc)
}

// table follows keys through nested tables.
func table(doc map[string]any, keys ...string) (map[string]any, bool) {
	cur := doc
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

// runtimesTable returns the CRI runtimes table of a config, if it has one.
func runtimesTable(doc map[string]any, version int) (map[string]any, bool) {
	return table(doc, "plugins", criPluginKey(version), "containerd", "runtimes")
}

// runtimeEntry returns the named runtime's table.
func runtimeEntry(doc map[string]any, version int, name string) (map[string]any, bool) {
	runtimes, ok := runtimesTable(doc, version)
	if !ok {
		return nil, false
	}
	rt, ok := runtimes[name].(map[string]any)
	return rt, ok
}

// defaultRuntimeName is the CRI default runtime a config selects; "runc"
// is containerd's own default.
func defaultRuntimeName(doc map[string]any, version int) string {
	if c, ok := table(doc, "plugins", criPluginKey(version), "containerd"); ok {
		if name, ok := c["default_runtime_name"].(string); ok && name != "" {
			return name
		}
	}
	return "runc"
}

// runcSystemdCgroup is the SystemdCgroup option of the config's runc
// runtime, which the wasmedge runtime mirrors so that both agree with the
// kubelet's cgroup driver.
func runcSystemdCgroup(doc map[string]any, version int) (bool, bool) {
	rt, ok := runtimeEntry(doc, version, "runc")
	if !ok {
		return false, false
	}
	opts, ok := rt["options"].(map[string]any)
	if !ok {
		return false, false
	}
	v, ok := opts["SystemdCgroup"].(bool)
	return v, ok
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// tomlKey writes a key bare when TOML allows it, quoted otherwise.
func tomlKey(k string) string {
	if bareKey.MatchString(k) {
		return k
	}
	return `"` + k + `"`
}

// tomlString quotes s as a TOML basic string. Control characters would
// need escapes that differ between TOML and Go; no path or runtime type
// has them, so they are refused.
func tomlString(s string) (string, error) {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: control character in %q", errdefs.ErrInvalidArgument, s)
		}
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`, nil
}

// tableHeader renders a dotted table name.
func tableHeader(keys ...string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = tomlKey(k)
	}
	return "[" + strings.Join(parts, ".") + "]"
}

// versionLine is the top-level version key of a config the installer writes.
func versionLine(version int) string {
	return "version = " + strconv.Itoa(version) + "\n"
}

//go:build linux

package shim

import (
	"fmt"

	runcopts "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/pelletier/go-toml/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

// runtimeOptions are the runtime options of a create request that this
// shim honours.
type runtimeOptions struct {
	// SystemdCgroup selects systemd's "slice:prefix:name" cgroup paths, as
	// runc's option of the same name does.
	SystemdCgroup bool `toml:"SystemdCgroup"`
}

// parseRuntimeOptions reads the options containerd sends with Create: runc's
// own options type (ctr, the Go client), or CRI's generic options whose body
// is the TOML of the runtime's options table in containerd's config.
func parseRuntimeOptions(opts *anypb.Any) (runtimeOptions, error) {
	var out runtimeOptions
	if opts == nil || opts.GetTypeUrl() == "" {
		return out, nil
	}
	v, err := typeurl.UnmarshalAny(opts)
	if err != nil {
		return out, fmt.Errorf("runtime options of type %s: %w", opts.GetTypeUrl(), errdefs.ErrInvalidArgument)
	}
	switch o := v.(type) {
	case *runcopts.Options:
		out.SystemdCgroup = o.GetSystemdCgroup()
	case *runtimeoptions.Options:
		if len(o.GetConfigBody()) > 0 {
			if err := toml.Unmarshal(o.GetConfigBody(), &out); err != nil {
				return out, fmt.Errorf("runtime options: %v: %w", err, errdefs.ErrInvalidArgument)
			}
		}
	}
	return out, nil
}

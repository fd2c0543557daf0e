//go:build linux

package shim

import (
	"context"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/proto"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
)

type taskProcessInfo = task.ProcessInfo

func runtimeTopic(e any) string { return runtime.GetTopic(e) }

// taskExitID is the ID field of the process's TaskExit: the exec id, or the
// container id for the init process.
func (p *process) taskExitID() string {
	if p.execID == "" {
		return p.id
	}
	return p.execID
}

// RegisterPlugin registers the task service with pkg/shim's plugin registry,
// which builds it once the publisher and shutdown service exist.
func RegisterPlugin() {
	registry.Register(&plugin.Registration{
		Type:     plugins.TTRPCPlugin,
		ID:       "task",
		Requires: []plugin.Type{plugins.EventPlugin, plugins.InternalPlugin},
		InitFn: func(ic *plugin.InitContext) (any, error) {
			pp, err := ic.GetByID(plugins.EventPlugin, "publisher")
			if err != nil {
				return nil, err
			}
			sd, err := ic.GetByID(plugins.InternalPlugin, "shutdown")
			if err != nil {
				return nil, err
			}
			return NewService(ic.Context, pp.(shim.Publisher), sd.(shutdown.Service))
		},
	})
}

// RegisterTTRPC implements shim.TTRPCService. The v2 and v3 task APIs are
// the same messages under two service names: containerd 1.6/1.7 call v2,
// 2.x call v3.
func (s *Service) RegisterTTRPC(server *ttrpc.Server) error {
	taskv3.RegisterTTRPCTaskService(server, s)
	server.RegisterService("containerd.task.v2.Task", &ttrpc.ServiceDesc{Methods: taskMethods(s)})
	server.RegisterService(action.GroupService, &ttrpc.ServiceDesc{Methods: map[string]ttrpc.Method{action.ReserveMethod: method(s.Reserve)}})
	return nil
}

// taskMethods maps the task API's method names to the service, decoding
// each request into its v3 message.
func taskMethods(s taskv3.TTRPCTaskService) map[string]ttrpc.Method {
	return map[string]ttrpc.Method{
		"State":      method(s.State),
		"Create":     method(s.Create),
		"Start":      method(s.Start),
		"Delete":     method(s.Delete),
		"Pids":       method(s.Pids),
		"Pause":      method(s.Pause),
		"Resume":     method(s.Resume),
		"Checkpoint": method(s.Checkpoint),
		"Kill":       method(s.Kill),
		"Exec":       method(s.Exec),
		"ResizePty":  method(s.ResizePty),
		"CloseIO":    method(s.CloseIO),
		"Update":     method(s.Update),
		"Wait":       method(s.Wait),
		"Stats":      method(s.Stats),
		"Connect":    method(s.Connect),
		"Shutdown":   method(s.Shutdown),
	}
}

func method[Req any, PReq interface {
	*Req
	proto.Message
}, Resp any](call func(context.Context, PReq) (Resp, error)) ttrpc.Method {
	return func(ctx context.Context, unmarshal func(any) error) (any, error) {
		req := PReq(new(Req))
		if err := unmarshal(req); err != nil {
			return nil, err
		}
		return call(ctx, req)
	}
}

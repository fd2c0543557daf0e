//go:build linux

package shim

import (
	"reflect"
	"testing"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
)

// TestTaskMethodsCoverTheAPI guards the hand-written v2 registration: every
// method of the task service must be reachable under the v2 name too.
func TestTaskMethodsCoverTheAPI(t *testing.T) {
	methods := taskMethods(&Service{})
	api := reflect.TypeOf((*taskv3.TTRPCTaskService)(nil)).Elem()
	if len(methods) != api.NumMethod() {
		t.Errorf("%d methods registered, the API has %d", len(methods), api.NumMethod())
	}
	for i := 0; i < api.NumMethod(); i++ {
		if _, ok := methods[api.Method(i).Name]; !ok {
			t.Errorf("method %s is not registered under the v2 name", api.Method(i).Name)
		}
	}
}

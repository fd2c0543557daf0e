//go:build linux

package harness

import (
	"context"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// Client returns a containerd v2 Go client connected to the daemon with
// Namespace as its default namespace; t.Cleanup closes it. The same client
// works against 1.6: the harness's smoke test runs a runc container through
// it on both versions.
func (d *Daemon) Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(d.Address, client.WithDefaultNamespace(d.Namespace))
	if err != nil {
		t.Fatalf("containerd client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Context returns t.Context() carrying Namespace. Client-side helpers (spec
// generation, snapshot preparation) read the namespace from the context
// rather than the client's default.
func (d *Daemon) Context(t testing.TB) context.Context {
	return namespaces.WithNamespace(t.Context(), d.Namespace)
}

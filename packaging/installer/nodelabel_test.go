package installer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/containerd/errdefs"
)

func TestNodeLabelerPatches(t *testing.T) {
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch || r.URL.Path != "/api/v1/nodes/node-1" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/merge-patch+json" {
			t.Errorf("Content-Type %q", ct)
		}
		if auth := r.Header.Get("Authorization"); auth != "Bearer tok-2" {
			t.Errorf("Authorization %q", auth)
		}
		body, _ := io.ReadAll(r.Body)
		var patch map[string]any
		if err := json.Unmarshal(body, &patch); err != nil {
			t.Error(err)
		}
		got = append(got, patch)
		w.Write([]byte(`{"kind":"Node"}`))
	}))
	defer srv.Close()

	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok-1\n"), 0o600)
	l := &NodeLabeler{Server: srv.URL, TokenFile: tokenFile, Client: srv.Client()}
	// The token is reread: projected tokens rotate under a running pod.
	os.WriteFile(tokenFile, []byte("tok-2\n"), 0o600)
	ctx := context.Background()
	if err := l.SetLabel(ctx, "node-1", LabelKey, LabelValue); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveLabel(ctx, "node-1", LabelKey); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"metadata": map[string]any{"labels": map[string]any{LabelKey: LabelValue}}},
		{"metadata": map[string]any{"labels": map[string]any{LabelKey: nil}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("patches %v, want %v", got, want)
	}
}

func TestNodeLabelerErrors(t *testing.T) {
	for status, want := range map[int]error{
		http.StatusNotFound:            errdefs.ErrNotFound,
		http.StatusForbidden:           errdefs.ErrPermissionDenied,
		http.StatusUnauthorized:        errdefs.ErrUnauthenticated,
		http.StatusInternalServerError: errdefs.ErrUnknown,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `nodes "node-1" is forbidden`, status)
		}))
		l := &NodeLabeler{Server: srv.URL, Client: srv.Client()}
		err := l.SetLabel(context.Background(), "node-1", LabelKey, LabelValue)
		srv.Close()
		if !errors.Is(err, want) {
			t.Errorf("status %d: err = %v, want %v", status, err, want)
		}
	}
	if err := (&NodeLabeler{}).SetLabel(context.Background(), "", LabelKey, LabelValue); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("empty node: err = %v", err)
	}
}

func TestInClusterNodeLabelerOutsideCluster(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := InClusterNodeLabeler(); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("err = %v", err)
	}
}

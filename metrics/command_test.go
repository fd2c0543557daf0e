package metrics

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func TestRunExporterArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"scrape"}},
		{"unknown flag", []string{"serve", "--port", "1"}},
		{"stray argument", []string{"serve", "extra"}},
		{"bad timeout", []string{"serve", "--timeout", "soon"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := RunExporter(context.Background(), tt.args); !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("error %v, want ErrInvalidArgument", err)
			}
		})
	}
	if err := RunExporter(context.Background(), []string{"serve", "--listen", "256.0.0.1:1"}); err == nil {
		t.Error("an address that cannot be listened on succeeded")
	}
}

func TestRunExporterServesUntilCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunExporter(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--dir", dir, "--timeout", "1s"})
	}()
	marker := filepath.Join(dir, exporterMarkerName)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the exporter never announced itself")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exporter returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exporter did not stop")
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marker left behind: %v", err)
	}
}

//go:build linux

package crictest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Binaries of the two containerd versions the project supports; CI installs
// both (.ci/install-deps), and the Makefile passes the same variables.
var (
	Containerd16 = envOr("CONTAINERD16", "/usr/bin/containerd")
	Containerd24 = envOr("CONTAINERD24", "/opt/containerd-v2.4.2/bin/containerd")
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Daemon is a running private containerd.
type Daemon struct {
	// Address is its gRPC socket.
	Address string
	// LogPath holds its output.
	LogPath string
	cmd     *exec.Cmd
}

// Runtime is a CRI runtime as the daemon reports it in its effective config.
type Runtime struct {
	Type    string         `json:"runtimeType"`
	Path    string         `json:"runtimePath"`
	Options map[string]any `json:"options"`
}

// systemPaths are machine-wide locations that configs name (containerd's
// defaults, k3s's); each is moved into the daemon's own directory so that
// the test never touches the machine's containerd.
var systemPaths = []string{
	"/var/lib/rancher/k3s/agent/containerd",
	"/run/k3s/containerd",
	"/var/lib/containerd",
	"/run/containerd",
	"/opt/containerd",
	"/var/run/nri",
	"/etc/nri",
	"/opt/nri",
	"/etc/containerd/conf.d",
}

var streamPort = regexp.MustCompile(`stream_server_port\s*=\s*["']\d+["']`)

// isolate rewrites the machine-wide paths in config into dir (whole path
// components only: /opt/containerd is not a prefix of
// /opt/containerd-shim-wasmedge), and a fixed CRI streaming port to a
// random one.
func isolate(config, dir string) string {
	for i, p := range systemPaths {
		re := regexp.MustCompile(regexp.QuoteMeta(p) + `([/"'])`)
		config = re.ReplaceAllString(config, filepath.Join(dir, fmt.Sprintf("p%d", i))+"$1")
	}
	return streamPort.ReplaceAllString(config, `stream_server_port = "0"`)
}

// Start runs binary with config (isolated as above) and waits until its
// socket answers. The daemon is stopped when the test ends.
func Start(t testing.TB, binary string, config []byte) *Daemon {
	t.Helper()
	if _, err := os.Stat(binary); err != nil {
		t.Fatalf("containerd binary %s: %v (run .ci/install-deps)", binary, err)
	}
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "crit")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(isolate(string(config), dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Address: filepath.Join(dir, "state", "containerd.sock"), LogPath: filepath.Join(dir, "containerd.log")}
	logFile, err := os.Create(d.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(binary, "--config", cfgPath,
		"--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"), "--address", d.Address)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
			<-exited
		}
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("daemon files kept in %s", dir)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(d.Address); err == nil {
			return d
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("containerd exited during start: %v\n%s", err, d.LogTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd socket %s did not appear\n%s", d.Address, d.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// LogTail is the end of the daemon's log, for failure messages.
func (d *Daemon) LogTail() string {
	b, _ := os.ReadFile(d.LogPath)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// CRIRuntimes asks the daemon's CRI service for its effective config and
// returns its runtimes. It fails the test when CRI is not serving, which is
// how containerd reports a CRI config it could not load.
func (d *Daemon) CRIRuntimes(t testing.TB) map[string]Runtime {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+d.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := runtimeapi.NewRuntimeServiceClient(conn)
	var resp *runtimeapi.StatusResponse
	// CRI registers its services as the daemon starts; retry briefly.
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err = client.Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
		cancel()
		// Unimplemented is final: the daemon serves only once every plugin
		// has loaded, so CRI failed to load.
		if err == nil || status.Code(err) == codes.Unimplemented || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("CRI status: %v\n%s", err, d.LogTail())
	}
	var cfg struct {
		Containerd struct {
			Runtimes map[string]Runtime `json:"runtimes"`
		} `json:"containerd"`
	}
	if err := json.Unmarshal([]byte(resp.GetInfo()["config"]), &cfg); err != nil {
		t.Fatalf("CRI status config: %v", err)
	}
	return cfg.Containerd.Runtimes
}

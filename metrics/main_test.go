package metrics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// shimHelperEnv, set to a metrics directory, turns the test binary into a
// stand-in shim process (runShimHelper) for the exporter tests: each needs
// its own pid, since sockets are named by pid.
const shimHelperEnv = "METRICS_TEST_SHIM_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(shimHelperEnv); dir != "" {
		os.Exit(runShimHelper(dir, os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// runShimHelper serves a registry in dir, prints the socket path, then
// applies one command per stdin line, answering "ok" to each:
//
//	instance ID     AddInstance (this process's pid, pod "pod-ID")
//	remove ID       RemoveInstance
//	cache hit|miss  ObserveCache
//	exit REASON N   ObserveExit
//	phase P MS      ObservePhase
//	quit            Shutdown, then exit 0
func runShimHelper(dir string, in io.Reader, out io.Writer) int {
	r := NewRegistry()
	path, err := r.Serve(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(out, "error", err)
		return 1
	}
	fmt.Fprintln(out, path)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "instance":
			r.AddInstance(InstanceInfo{Namespace: "default", ContainerID: f[1], PodName: "pod-" + f[1], Module: "/m.wasm"}, os.Getpid())
		case "remove":
			r.RemoveInstance("default", f[1], "")
		case "cache":
			r.ObserveCache(f[1] == "hit")
		case "exit":
			status, _ := strconv.Atoi(f[2])
			r.ObserveExit(InstanceInfo{Namespace: "default", ContainerID: "x"}, ExitReason(f[1]), status)
		case "phase":
			ms, _ := strconv.Atoi(f[2])
			r.ObservePhase(Phase(f[1]), time.Duration(ms)*time.Millisecond)
		case "quit":
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := r.Shutdown(ctx); err != nil {
				fmt.Fprintln(out, "error", err)
				return 1
			}
			fmt.Fprintln(out, "ok")
			return 0
		default:
			fmt.Fprintln(out, "error unknown command", f[0])
			continue
		}
		fmt.Fprintln(out, "ok")
	}
	return 0
}

// shimProcess is a running stand-in shim.
type shimProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Scanner
	socket string
}

// startShim starts a stand-in shim serving in dir and waits for its socket.
func startShim(t *testing.T, dir string) *shimProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), shimHelperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &shimProcess{t: t, cmd: cmd, stdin: stdin, stdout: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	s.socket = s.line()
	if !strings.HasSuffix(s.socket, socketSuffix) {
		t.Fatalf("shim helper said %q", s.socket)
	}
	return s
}

// line reads the helper's next answer.
func (s *shimProcess) line() string {
	s.t.Helper()
	if !s.stdout.Scan() {
		s.t.Fatalf("shim helper ended: %v", s.stdout.Err())
	}
	return s.stdout.Text()
}

// do sends commands and waits for each to be applied.
func (s *shimProcess) do(commands ...string) {
	s.t.Helper()
	for _, c := range commands {
		if _, err := fmt.Fprintln(s.stdin, c); err != nil {
			s.t.Fatal(err)
		}
		if got := s.line(); got != "ok" {
			s.t.Fatalf("%q: %s", c, got)
		}
	}
}

// quit shuts the shim down cleanly and waits for it to exit.
func (s *shimProcess) quit() {
	s.t.Helper()
	s.do("quit")
	if err := s.cmd.Wait(); err != nil {
		s.t.Fatalf("shim helper: %v", err)
	}
}

// kill ends the shim with SIGKILL, as the OOM killer or an operator might:
// it leaves its socket behind.
func (s *shimProcess) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		s.t.Fatal(err)
	}
	_ = s.cmd.Wait()
}

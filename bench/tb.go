//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// benchTB lets the bench drive the integration harness, whose helpers take a
// testing.TB, from an ordinary program. testing.TB cannot be implemented
// outside package testing (it has an unexported method), so the nil TB is
// embedded for that method alone; every method the harness calls is
// implemented here, and a harness change that calls another one panics at
// once rather than misbehaving quietly.
type benchTB struct {
	testing.TB

	ctx    context.Context
	out    io.Writer
	mu     sync.Mutex
	failed bool
	// cleanups run last-registered first, as in package testing.
	cleanups []func()
	cleaned  sync.Once
	closing  atomic.Bool
}

// newBenchTB returns a TB whose Context is ctx and whose log goes to out.
func newBenchTB(ctx context.Context, out io.Writer) *benchTB {
	return &benchTB{ctx: ctx, out: out}
}

func (b *benchTB) Name() string             { return "bench" }
func (b *benchTB) Helper()                  {}
func (b *benchTB) Context() context.Context { return b.ctx }
func (b *benchTB) Output() io.Writer        { return b.out }

func (b *benchTB) Log(args ...any) { fmt.Fprintln(b.out, append([]any{"harness:"}, args...)...) }
func (b *benchTB) Logf(format string, args ...any) {
	fmt.Fprintf(b.out, "harness: "+format+"\n", args...)
}

func (b *benchTB) Fail() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failed = true
}

func (b *benchTB) Failed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failed
}

func (b *benchTB) Error(args ...any) {
	b.Fail()
	fmt.Fprintln(b.out, append([]any{"error:"}, args...)...)
}

func (b *benchTB) Errorf(format string, args ...any) {
	b.Fail()
	fmt.Fprintf(b.out, "error: "+format+"\n", args...)
}

// FailNow cannot stop only the calling goroutine as testing does, so it ends
// the program after cleaning up: the bench never calls the harness from its
// worker goroutines, so this runs on the main goroutine.
func (b *benchTB) FailNow() {
	b.Fail()
	if !b.closing.Load() { // a cleanup that fails must not wait for itself
		b.Close()
	}
	os.Exit(1)
}

func (b *benchTB) Fatal(args ...any) {
	fmt.Fprintln(b.out, append([]any{"fatal:"}, args...)...)
	b.FailNow()
}

func (b *benchTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(b.out, "fatal: "+format+"\n", args...)
	b.FailNow()
}

// Skip is a failure here: the harness skips when it cannot run containerd
// (not root), and a benchmark that measured nothing must not look fine.
func (b *benchTB) Skip(args ...any) {
	fmt.Fprintln(b.out, append([]any{"cannot run:"}, args...)...)
	b.FailNow()
}

func (b *benchTB) Skipf(format string, args ...any) {
	fmt.Fprintf(b.out, "cannot run: "+format+"\n", args...)
	b.FailNow()
}

func (b *benchTB) SkipNow()      { b.FailNow() }
func (b *benchTB) Skipped() bool { return false }

func (b *benchTB) Cleanup(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, f)
}

// TempDir returns a new directory that Close removes.
func (b *benchTB) TempDir() string {
	dir, err := os.MkdirTemp("", "shim-bench-")
	if err != nil {
		b.Fatalf("temp dir: %v", err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Close runs the registered cleanups once, newest first.
func (b *benchTB) Close() {
	b.cleaned.Do(func() {
		b.closing.Store(true)
		for {
			b.mu.Lock()
			n := len(b.cleanups)
			if n == 0 {
				b.mu.Unlock()
				return
			}
			f := b.cleanups[n-1]
			b.cleanups = b.cleanups[:n-1]
			b.mu.Unlock()
			f()
		}
	})
}

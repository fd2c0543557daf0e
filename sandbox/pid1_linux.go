//go:build linux

package sandbox

import (
	"os"
	"os/signal"
	"syscall"
)

// terminationSignals are the signals whose default action ends a process
// and which the instance may receive from the shim or the host (SIGKILL and
// SIGSTOP aside, which nothing can catch).
var terminationSignals = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
	syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGTERM, syscall.SIGSTKFLT, syscall.SIGXCPU,
	syscall.SIGXFSZ, syscall.SIGVTALRM, syscall.SIGIO, syscall.SIGPWR,
}

// exitOnTerminationSignals makes the instance end on the termination
// signals when it is pid 1 of a new pid namespace. The kernel never applies
// a default action to the init of a namespace: without a handler, SIGTERM
// would be dropped, and a guest cannot install one. Exiting with 128+signal
// is what the shim reports for a process a signal killed, so a guest stops
// on SIGTERM exactly as it does in the shim's pid namespace.
func exitOnTerminationSignals() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, terminationSignals...)
	go func() {
		sig := <-signals
		os.Exit(128 + int(sig.(syscall.Signal)))
	}()
}

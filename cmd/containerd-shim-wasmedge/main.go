//go:build linux

// Command containerd-shim-wasmedge-v1 is the binary containerd runs for the
// io.containerd.wasmedge.v1 runtime. It answers the start and delete
// actions itself, with as little code as those need (package action), since
// containerd runs both for every task; everything else (the shim server,
// -v, -info, the metrics exporter) is the server binary's job.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
)

func main() {
	flags, err := action.ParseFlags(os.Args[1:])
	switch {
	case err == nil && flags.Action == "start":
		server, err := serverBinary()
		if err == nil {
			err = action.Start(context.Background(), flags, os.Stdin, os.Stdout, server)
		}
		exitOn(err)
	case err == nil && flags.Action == "delete":
		exitOn(action.Delete(flags, os.Stdout, os.Stderr))
	default:
		runServer()
	}
}

// exitOn ends the process with status 1 and err on stderr, which containerd
// shows, if err is not nil.
func exitOn(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "containerd-shim-wasmedge-v1: %s\n", err)
		os.Exit(1)
	}
}

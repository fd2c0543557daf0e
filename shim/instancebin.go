//go:build linux

package shim

import (
	"context"
	"os"
	"time"

	"github.com/containerd/log"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
)

var (
	instanceBinary []byte
	instanceSum    string
)

// SetInstanceBinary hands the shim the instance binary embedded in it (see
// cmd/wasmedge-instance). Without one, instances re-execute the shim binary,
// which works the same but starts slower and costs more memory: it links
// containerd's client libraries and the metrics stack. sum is its SHA-256
// in hex, or "" to compute it.
func SetInstanceBinary(bin []byte, sum string) { instanceBinary, instanceSum = bin, sum }

// instanceExe returns the path of the instance binary to run, writing it
// out if it is not there; "" means the shim binary itself. It checks every
// time (a stat), so that a file removed by another version's cleanup
// (action.RemoveStaleBinaries) is written again rather than missed.
func instanceExe() (string, error) {
	if len(instanceBinary) == 0 {
		return "", nil
	}
	return action.InstallBinary(action.BinDir, action.InstanceBinaryName, instanceSum, instanceBinary)
}

// removeStaleBinaries removes the binaries of other shim versions that
// nothing runs any more, keeping this server's own.
func removeStaleBinaries(ctx context.Context) {
	var keep []string
	if exe, err := os.Executable(); err == nil {
		keep = append(keep, exe)
	}
	if len(instanceBinary) > 0 {
		// Where it is, not written out: the shim is leaving.
		if path, err := action.BinaryPath(action.BinDir, action.InstanceBinaryName, instanceSum, instanceBinary); err == nil {
			keep = append(keep, path)
		}
	}
	removed, err := action.RemoveStaleBinaries(action.BinDir, keep, time.Now())
	if err != nil {
		log.G(ctx).WithError(err).Warn("remove binaries of other versions")
	}
	if len(removed) > 0 {
		log.G(ctx).WithField("files", removed).Info("removed binaries of other versions")
	}
}

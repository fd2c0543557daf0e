//go:build linux

package shim

import (
	"sync"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
)

var (
	instanceBinary []byte
	instanceSum    string
	instanceOnce   sync.Once
	instancePath   string
	instanceErr    error
)

// SetInstanceBinary hands the shim the instance binary embedded in it (see
// cmd/wasmedge-instance). Without one, instances re-execute the shim binary,
// which works the same but starts slower and costs more memory: it links
// containerd's client libraries and the metrics stack. sum is its SHA-256
// in hex, or "" to compute it.
func SetInstanceBinary(bin []byte, sum string) { instanceBinary, instanceSum = bin, sum }

// instanceExe returns the path of the instance binary to run, writing it
// out on first use; "" means the shim binary itself.
func instanceExe() (string, error) {
	if len(instanceBinary) == 0 {
		return "", nil
	}
	instanceOnce.Do(func() {
		instancePath, instanceErr = action.InstallBinary(action.BinDir, "wasmedge-instance", instanceSum, instanceBinary)
	})
	return instancePath, instanceErr
}

//go:build linux

package shim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// instanceBinDir is where the embedded instance binary is written out, once
// per node and version: every instance of every shim runs that one file, so
// the kernel shares its pages among them.
const instanceBinDir = "/run/containerd-shim-wasmedge/bin"

var (
	instanceBinary []byte
	instanceOnce   sync.Once
	instancePath   string
	instanceErr    error
)

// SetInstanceBinary hands the shim the instance binary embedded in it (see
// cmd/wasmedge-instance). Without one, instances re-execute the shim binary,
// which works the same but starts slower and costs more memory: it links
// containerd's client libraries and the metrics stack.
func SetInstanceBinary(bin []byte) { instanceBinary = bin }

// instanceExe returns the path of the instance binary to run, writing it
// out on first use; "" means the shim binary itself.
func instanceExe() (string, error) {
	if len(instanceBinary) == 0 {
		return "", nil
	}
	instanceOnce.Do(func() { instancePath, instanceErr = installInstanceBinary(instanceBinDir, instanceBinary) })
	return instancePath, instanceErr
}

// installInstanceBinary writes bin into dir under a name derived from its
// content, unless a file of that content is there already. Several shims
// may race: each writes a temporary file and renames it into place, so the
// file is whole whenever it exists.
func installInstanceBinary(dir string, bin []byte) (string, error) {
	sum := sha256.Sum256(bin)
	path := filepath.Join(dir, "wasmedge-instance-"+hex.EncodeToString(sum[:8]))
	// The name carries the content's hash and files only ever appear whole
	// (rename), so a file of the right size is the right file; a short or
	// damaged one is replaced.
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Size() == int64(len(bin)) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("instance binary: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".wasmedge-instance-*")
	if err != nil {
		return "", fmt.Errorf("instance binary: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(bin)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("instance binary: %w", err)
	}
	return path, nil
}

package action

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// BinDir is where binaries embedded in the shim are written out, once per
// node and version: every shim and instance runs that one file, so the
// kernel shares its pages among them. It is on tmpfs, gone at reboot.
const BinDir = "/run/containerd-shim-wasmedge/bin"

// staleAfter is how long after a binary was last wanted (written, or found
// by InstallBinary, which then refreshes its modification time) a cleanup
// may remove it: a start action may be about to run the file it just
// found.
const staleAfter = 10 * time.Minute

// BinaryPath returns where InstallBinary puts bin, without writing it.
func BinaryPath(dir, name, sum string, bin []byte) (string, error) {
	if sum == "" {
		digest := sha256.Sum256(bin)
		sum = hex.EncodeToString(digest[:])
	}
	if len(sum) < 16 {
		return "", fmt.Errorf("install %s: content hash %q too short", name, sum)
	}
	return filepath.Join(dir, name+"-"+sum[:16]), nil
}

// InstallBinary writes bin into dir under name plus its content's SHA-256
// (sum, in hex: the build computes it, for hashing 33 MB on every start
// action would cost more than the rest of it; "" computes it here), unless
// a file of that content is there already, and returns its path. Several
// shims may race: each writes a temporary file and renames it into place,
// so the file is whole whenever it exists.
func InstallBinary(dir, name, sum string, bin []byte) (string, error) {
	path, err := BinaryPath(dir, name, sum, bin)
	if err != nil {
		return "", err
	}
	// The name carries the content's hash and files only ever appear whole
	// (rename), so a file of the right size is the right file; a short or
	// damaged one is replaced.
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Size() == int64(len(bin)) {
		// Its modification time says when it was last wanted: a cleanup
		// (RemoveStaleBinaries) leaves a file alone for a while after that,
		// so it cannot vanish between this check and its exec.
		if now := time.Now(); now.Sub(st.ModTime()) > staleAfter/10 {
			_ = os.Chtimes(path, now, now)
		}
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("install %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return "", fmt.Errorf("install %s: %w", name, err)
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
		return "", fmt.Errorf("install %s: %w", name, err)
	}
	return path, nil
}

//go:build linux

package metrics

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// userHZ is the unit of the CPU times in /proc/PID/stat. It is 100 on every
// architecture the shim is built for; reading it properly needs
// sysconf(_SC_CLK_TCK), which is libc, and the binary is built without cgo.
const userHZ = 100

// readProcessUsage reads pid's memory and CPU use from /proc. A process that
// is gone (or a zombie, which has no memory left) is errdefs.ErrNotFound.
func readProcessUsage(pid int) (processUsage, error) {
	var u processUsage
	dir := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return u, notFoundIfMissing(err)
	}
	rss, ok, err := kibiField(status, "VmRSS:")
	if err != nil {
		return u, fmt.Errorf("%s/status: %w", dir, err)
	}
	if !ok {
		// Zombies and kernel threads have no VmRSS line.
		return u, fmt.Errorf("process %d has no memory: %w", pid, errdefs.ErrNotFound)
	}
	u.residentBytes = rss

	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return u, notFoundIfMissing(err)
	}
	if u.cpuSeconds, err = cpuSeconds(stat); err != nil {
		return u, fmt.Errorf("%s/stat: %w", dir, err)
	}

	// smaps_rollup exists since Linux 4.14; without it PSS is left out
	// rather than failing the whole reading.
	if rollup, err := os.ReadFile(dir + "/smaps_rollup"); err == nil {
		u.pssBytes, u.hasPSS, err = kibiField(rollup, "Pss:")
		if err != nil {
			return u, fmt.Errorf("%s/smaps_rollup: %w", dir, err)
		}
	}
	return u, nil
}

// notFoundIfMissing maps a vanished /proc entry to errdefs.ErrNotFound.
func notFoundIfMissing(err error) error {
	if os.IsNotExist(err) {
		return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
	}
	return err
}

// kibiField finds the line starting with key in a /proc file of "Key:  N kB"
// lines and returns N KiB in bytes.
func kibiField(content []byte, key string) (uint64, bool, error) {
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, key)
		if !found {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, false, fmt.Errorf("malformed line %q: %w", line, errdefs.ErrUnknown)
		}
		kib, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("malformed line %q: %w", line, err)
		}
		return kib * 1024, true, nil
	}
	return 0, false, sc.Err()
}

// cpuSeconds returns utime+stime from the content of /proc/PID/stat.
func cpuSeconds(stat []byte) (float64, error) {
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself, so fields are counted from the last ')'.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("no command name: %w", errdefs.ErrUnknown)
	}
	fields := strings.Fields(string(stat[end+1:]))
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("%d fields after the command name: %w", len(fields), errdefs.ErrUnknown)
	}
	var ticks uint64
	for _, f := range []string{fields[utime], fields[stime]} {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return float64(ticks) / userHZ, nil
}

//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
)

// setKernelParams sets the hostname, domain name and sysctls of the
// container's namespaces. Spawn made sure those namespaces are the
// container's own. A sysctl file under /proc/sys belongs to the namespace
// of whoever opens it, so writing it from inside the namespaces reaches the
// container's value, through the host's /proc.
func setKernelParams(rc *oci.RunConfig) error {
	if rc.Hostname != "" {
		if err := unix.Sethostname([]byte(rc.Hostname)); err != nil {
			return fmt.Errorf("set hostname %q: %w", rc.Hostname, err)
		}
	}
	if rc.Domainname != "" {
		if err := unix.Setdomainname([]byte(rc.Domainname)); err != nil {
			return fmt.Errorf("set domainname %q: %w", rc.Domainname, err)
		}
	}
	names := make([]string, 0, len(rc.Sysctls))
	for name := range rc.Sysctls {
		names = append(names, name)
	}
	// Sorted, so that a failure is the same one every time.
	slices.Sort(names)
	for _, name := range names {
		if err := writeSysctl(name, rc.Sysctls[name]); err != nil {
			return err
		}
	}
	return nil
}

// writeSysctl writes one kernel parameter, named by its path under
// /proc/sys.
func writeSysctl(name, value string) error {
	dotted := strings.ReplaceAll(name, "/", ".")
	if path.Clean("/"+name) != "/"+name {
		return invalidf("sysctl %q: not a valid name", dotted)
	}
	if _, err := oci.SysctlNamespace(name); err != nil {
		return tagged(kindInvalid, err)
	}
	f, err := os.OpenFile("/proc/sys/"+name, os.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return tagged(kindOfPathError(err), fmt.Errorf("sysctl %s: %w", dotted, err))
	}
	_, err = f.WriteString(value)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return tagged(kindInvalid, fmt.Errorf("sysctl %s = %q: %w", dotted, value, err))
	}
	return nil
}

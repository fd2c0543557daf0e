// Package guestfs is the filesystem a WebAssembly guest sees: a wazero
// experimental/sys.FS rooted at a host directory with chroot semantics.
//
// wazero's own directory mounts refuse ".." but follow symlinks with the host's
// rules, so a symlink found in an image or made by the guest (x -> ../../..,
// /etc -> host /etc) reaches outside the root. Here every path is resolved by
// the kernel with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) on a
// descriptor of the root: ".." stops at the root, absolute symlinks land inside
// it (as in a container: /lib -> /usr/lib works), and /proc magic links are
// refused. Operations on a final component (mkdir, unlink, rename, ...) open the
// parent inside the root and use the *at system call on the last name, which
// never follows that name. Mount points below the root are crossed, so volumes
// bind-mounted inside it stay reachable.
//
// The confinement needs Linux 5.6 or later; on other systems New reports
// errdefs.ErrNotImplemented.
package guestfs

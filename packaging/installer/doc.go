// Package installer registers containerd-shim-wasmedge with the containerd of
// a Kubernetes node: it copies the shim binary onto the host, adds the
// wasmedge runtime to containerd's configuration in the layout the node's
// distribution uses (plain containerd, k3s, RKE2, k0s, MicroK8s), makes
// containerd reread it, and undoes all of that on uninstall.
//
// Every configuration change lives between two marker lines (BlockBegin and
// BlockEnd), so a second install replaces the block instead of adding
// another, and uninstall removes exactly what install added, leaving the
// rest of the file byte for byte as it was. Each edit is checked by parsing
// the result as TOML before anything is written.
package installer

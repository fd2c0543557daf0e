// Package packaging holds what an operator needs to run
// containerd-shim-wasmedge on Kubernetes nodes and under Docker: containerd
// config snippets (containerd/), the RuntimeClass, the installer image and
// DaemonSets (kubernetes/), example workloads (examples/) and the
// installer's code (installer/). Its tests check every manifest against the
// real Kubernetes API types and every config against real containerd
// daemons; see README.md.
package packaging

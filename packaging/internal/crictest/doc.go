// Package crictest starts a private containerd with a given config and
// reads back the CRI runtimes it loaded, for tests that must show a config
// works with a real daemon rather than merely parse.
package crictest

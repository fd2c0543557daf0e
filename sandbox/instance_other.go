//go:build !linux

package sandbox

import (
	"fmt"
	"os"
)

// RunInstance needs Linux; elsewhere it says so and exits with status 1.
func RunInstance() {
	fmt.Fprintln(os.Stderr, "wasm instances need Linux")
	os.Exit(1)
}

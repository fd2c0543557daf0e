// Command hello-go is a Go wasip1 program. It is here for its size (about
// 2 MB of wasm, much bigger than the C modules) so tests can measure and
// exercise the shim's compilation cache; it prints a greeting and its args.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Println("hello from go")
	fmt.Println("args:", strings.Join(os.Args[1:], " "))
}

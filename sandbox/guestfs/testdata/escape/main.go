// Command escape is a wasip1 guest for guestfs's end-to-end test. It tries
// every route out of its root that a guest can take through WASI and prints
// one line per attempt: "<route>: OK <data>" or "<route>: ERR <error>".
//
// Usage: escape <absolute host path of the secret file>
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: escape SECRET_HOST_PATH")
		os.Exit(2)
	}
	secret := os.Args[1]
	up := strings.Repeat("../", 12)

	read := func(route, name string) {
		data, err := os.ReadFile(name)
		report(route, string(data), err)
	}

	read("in-root", "/data/hello.txt")
	read("absolute", secret)
	read("dotdot", up+strings.TrimPrefix(secret, "/"))
	read("image-abs-symlink", "/abs-secret")
	read("image-rel-symlink", "/rel-up"+secret)
	read("image-etc-symlink", "/etc-link/passwd")
	read("proc-root", "/proc/self/root"+secret)

	report("symlink-abs", "", os.Symlink(secret, "/made-abs"))
	read("via-symlink-abs", "/made-abs")
	report("symlink-up", "", os.Symlink(up, "/made-up"))
	read("via-symlink-up", "/made-up"+secret)
	report("symlink-proc", "", os.Symlink("/proc/self/root", "/made-proc"))
	read("via-symlink-proc", "/made-proc"+secret)
	report("symlink-dir-dotdot", "", os.Symlink("data", "/made-dir"))
	read("via-symlink-dir-dotdot", "/made-dir/"+up+strings.TrimPrefix(secret, "/"))

	report("hardlink", "", os.Link(secret, "/hard"))
	report("hardlink-via-symlink", "", os.Link("/abs-secret", "/hard2"))
	read("via-hardlink-via-symlink", "/hard2")
	report("rename-out", "", os.Rename("/data/victim.txt", up+"moved.txt"))

	report("write", "", os.WriteFile("/data/new.txt", []byte("written-by-guest"), 0o644))
	read("read-back", "/data/new.txt")
	report("mkdir", "", os.MkdirAll("/a/b/c", 0o755))
	report("remove", "", os.RemoveAll("/a"))

	entries, err := os.ReadDir("/")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	report("readdir", strings.Join(names, ","), err)
}

func report(route, data string, err error) {
	if err != nil {
		fmt.Printf("%s: ERR %v\n", route, err)
		return
	}
	fmt.Printf("%s: OK %s\n", route, data)
}

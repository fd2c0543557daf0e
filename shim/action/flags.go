package action

import (
	"flag"
	"io"
)

// Flags are the command-line flags containerd passes to every invocation of
// a shim binary, and the action (start, delete, or none for the server).
type Flags struct {
	Namespace string
	ID        string
	Address   string
	Debug     bool
	Action    string
}

// ParseFlags parses args as containerd writes them. Flags of pkg/shim that
// the actions do not use are accepted and ignored, so that any invocation
// parses; unknown ones are an error.
func ParseFlags(args []string) (Flags, error) {
	var f Flags
	fs := flag.NewFlagSet("shim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.Namespace, "namespace", "", "")
	fs.StringVar(&f.ID, "id", "", "")
	fs.StringVar(&f.Address, "address", "", "")
	fs.BoolVar(&f.Debug, "debug", false, "")
	for _, name := range []string{"publish-binary", "bundle", "socket", "debug-socket"} {
		fs.String(name, "", "")
	}
	for _, name := range []string{"v", "version", "info"} {
		fs.Bool(name, false, "")
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	f.Action = fs.Arg(0)
	return f, nil
}

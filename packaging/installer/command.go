package installer

import "context"

// CommandRunner runs a command on the host. Tests substitute a recorder.
type CommandRunner interface {
	// Run runs argv and returns its combined output.
	Run(ctx context.Context, argv []string) ([]byte, error)
}

// HostCommand runs commands with the host's root (mounted at Root) as
// their root directory, so that they are the host's own binaries with the
// host's libraries: the installer image has nothing but two static files.
type HostCommand struct {
	// Root is where the host's / is mounted; "/" when running on the host.
	Root string
}

// hostPATH is the search path for commands on the host.
var hostPATH = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/snap/bin"}

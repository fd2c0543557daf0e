// Command wasmedge-installer installs containerd-shim-wasmedge on the
// Kubernetes node it runs on, from a privileged DaemonSet pod that mounts
// the host's / (see packaging/kubernetes/installer):
//
//	wasmedge-installer install   [flags]  copy the shim, register the runtime, restart containerd, label the node
//	wasmedge-installer uninstall [flags]  unlabel the node, unregister the runtime, restart containerd, remove the shim
//	wasmedge-installer probe     [flags]  exit 0 once install or uninstall has finished (readiness probe)
//
// It can also run directly on a host with -host-root=/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/packaging/installer"
)

// options are the command's flags.
type options struct {
	hostRoot      string
	layout        string
	shim          string
	binDir        string
	runtimeName   string
	runtimeType   string
	configVersion int
	systemdCgroup string
	restart       string
	nodeName      string
	label         string
	wait          bool
	readyFile     string
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("wasmedge-installer: ")
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	mode := os.Args[1]
	fset := flag.NewFlagSet(mode, flag.ExitOnError)
	var o options
	fset.StringVar(&o.hostRoot, "host-root", "/host", "where the host's / is mounted")
	fset.StringVar(&o.layout, "layout", "auto", "containerd layout: auto, "+kindList())
	fset.StringVar(&o.shim, "shim", "/shim/"+installer.ShimBinaryName, "shim binary to copy onto the host (empty: do not copy)")
	fset.StringVar(&o.binDir, "bin-dir", installer.DefaultBinDir, "host directory for the shim binary")
	fset.StringVar(&o.runtimeName, "runtime-name", installer.DefaultRuntimeName, "CRI runtime handler name (the RuntimeClass handler)")
	fset.StringVar(&o.runtimeType, "runtime-type", installer.DefaultRuntimeType, "containerd runtime_type")
	fset.IntVar(&o.configVersion, "config-version", 0, "version of a containerd config the installer has to create (0: ask the host's containerd)")
	fset.StringVar(&o.systemdCgroup, "systemd-cgroup", "auto", "SystemdCgroup option: auto (copy runc's, else follow the kubelet's cgroup driver), true, false")
	fset.StringVar(&o.restart, "restart-command", "", "host command that restarts containerd, overriding the layout's ('none' to skip)")
	fset.StringVar(&o.nodeName, "node-name", os.Getenv("NODE_NAME"), "this node's name, for the label")
	fset.StringVar(&o.label, "label", installer.LabelKey+"="+installer.LabelValue, "node label KEY=VALUE set after install and removed on uninstall (empty: none)")
	fset.BoolVar(&o.wait, "wait", false, "after the work, wait for SIGTERM (as a DaemonSet container must)")
	fset.StringVar(&o.readyFile, "ready-file", "/tmp/wasmedge-installer.ready", "file created once the work is done (for probe)")
	if err := fset.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var err error
	switch mode {
	case "install":
		err = install(ctx, o)
	case "uninstall":
		err = uninstall(ctx, o)
	case "probe":
		if _, err := os.Stat(o.readyFile); err != nil {
			os.Exit(1)
		}
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(o.readyFile, nil, 0o644); err != nil {
		log.Fatal(err)
	}
	if o.wait {
		log.Print("done; waiting for termination")
		<-ctx.Done()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: wasmedge-installer install|uninstall|probe [flags]  (-h for flags)")
}

func kindList() string {
	names := make([]string, len(installer.Kinds))
	for i, k := range installer.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// newInstaller builds the installer the flags describe.
func newInstaller(o options) (*installer.Installer, error) {
	var (
		layout installer.Layout
		err    error
	)
	if o.layout == "auto" {
		layout, err = installer.DetectLayout(o.hostRoot)
	} else {
		layout, err = installer.LayoutFor(o.hostRoot, installer.Kind(o.layout))
	}
	if err != nil {
		return nil, err
	}
	switch o.restart {
	case "":
	case "none":
		layout.Restart = nil
	default:
		layout.Restart = strings.Fields(o.restart)
	}
	rt := installer.DefaultRuntime(o.binDir)
	rt.Name, rt.Type = o.runtimeName, o.runtimeType
	in := &installer.Installer{
		HostRoot:      o.hostRoot,
		Layout:        layout,
		Runtime:       rt,
		ShimSource:    o.shim,
		Runner:        installer.HostCommand{Root: o.hostRoot},
		ConfigVersion: o.configVersion,
		Logf:          log.Printf,
	}
	switch o.systemdCgroup {
	case "auto":
		in.DefaultSystemdCgroup = installer.KubeletUsesSystemdCgroup(o.hostRoot)
	case "true", "false":
		v := o.systemdCgroup == "true"
		in.Runtime.SystemdCgroup = &v
		in.DefaultSystemdCgroup = v
	default:
		return nil, fmt.Errorf("-systemd-cgroup must be auto, true or false, not %q", o.systemdCgroup)
	}
	log.Printf("layout %s: editing %s", layout.Kind, layout.ConfigPath)
	return in, nil
}

// labeler returns the node labeler and the label, or nil when labelling is
// off or impossible outside a cluster.
func labeler(o options) (*installer.NodeLabeler, string, string, error) {
	if o.label == "" {
		return nil, "", "", nil
	}
	key, value, ok := strings.Cut(o.label, "=")
	if !ok || key == "" {
		return nil, "", "", fmt.Errorf("-label must be KEY=VALUE, not %q", o.label)
	}
	if o.nodeName == "" {
		log.Print("no node name (NODE_NAME): not labelling the node")
		return nil, "", "", nil
	}
	l, err := installer.InClusterNodeLabeler()
	if err != nil {
		return nil, "", "", err
	}
	return l, key, value, nil
}

func install(ctx context.Context, o options) error {
	in, err := newInstaller(o)
	if err != nil {
		return err
	}
	if _, err := in.Install(ctx); err != nil {
		var foreign *installer.ForeignRuntimeError
		if errors.As(err, &foreign) {
			return fmt.Errorf("%w (or pass -runtime-name and point the RuntimeClass handler at it)", err)
		}
		return err
	}
	l, key, value, err := labeler(o)
	if err != nil || l == nil {
		return err
	}
	if err := l.SetLabel(ctx, o.nodeName, key, value); err != nil {
		return err
	}
	log.Printf("labelled node %s with %s=%s", o.nodeName, key, value)
	return nil
}

func uninstall(ctx context.Context, o options) error {
	in, err := newInstaller(o)
	if err != nil {
		return err
	}
	// Unlabel first so that no new wasm pod is scheduled here meanwhile.
	l, key, _, err := labeler(o)
	if err != nil {
		return err
	}
	if l != nil {
		if err := l.RemoveLabel(ctx, o.nodeName, key); err != nil {
			return err
		}
		log.Printf("removed label %s from node %s", key, o.nodeName)
	}
	_, err = in.Uninstall(ctx)
	return err
}

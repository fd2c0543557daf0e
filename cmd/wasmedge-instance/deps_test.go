package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestInstanceStaysSmall guards what the instance binary links: every
// container's instance process runs it, and each package it links costs
// start-up time (package initialisation, page faults) on every Create.
func TestInstanceStaysSmall(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, heavy := range []string{
		"github.com/containerd/cgroups",
		"github.com/containerd/containerd/",
		"github.com/prometheus/",
		"go.opentelemetry.io/",
		"google.golang.org/protobuf",
		"github.com/godbus/",
	} {
		if strings.Contains(string(out), heavy) {
			t.Errorf("the instance binary links %s", heavy)
		}
	}
}

package oci

import (
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestNamespaces(t *testing.T) {
	tests := []struct {
		name    string
		linux   *specs.Linux
		want    []Namespace
		wantErr func(error) bool
		wantMsg string
	}{
		{name: "no linux section"},
		{
			name: "created and joined, in spec order",
			linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace, Path: "/proc/42/ns/net"},
				{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			}},
			want: []Namespace{
				{Type: NamespacePID}, {Type: NamespaceNetwork, Path: "/proc/42/ns/net"},
				{Type: NamespaceIPC}, {Type: NamespaceUTS}, {Type: NamespaceMount}, {Type: NamespaceCgroup},
			},
		},
		{
			name:    "user namespace",
			linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.UserNamespace}}},
			wantErr: errdefs.IsNotImplemented, wantMsg: "user namespaces are not supported",
		},
		{
			name:    "uid mappings",
			linux:   &specs.Linux{UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}},
			wantErr: errdefs.IsNotImplemented, wantMsg: "user namespaces are not supported",
		},
		{
			name:    "time namespace",
			linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.TimeNamespace}}},
			wantErr: errdefs.IsNotImplemented, wantMsg: "time namespaces are not supported",
		},
		{
			name:    "unknown type",
			linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: "net"}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: `unknown namespace type "net"`,
		},
		{
			name:    "listed twice",
			linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.IPCNamespace}, {Type: specs.IPCNamespace, Path: "/x"}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: "ipc namespace listed twice",
		},
		{
			name:    "relative path",
			linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "ns/net"}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: `network namespace path "ns/net" is not absolute`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := namespaces(tc.linux)
			if tc.wantErr != nil {
				if err == nil || !tc.wantErr(err) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("namespaces() error = %v, want category and %q", err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("namespaces() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSysctls(t *testing.T) {
	all := []Namespace{{Type: NamespaceNetwork, Path: "/proc/1/ns/net"}, {Type: NamespaceIPC}, {Type: NamespaceUTS}}
	tests := []struct {
		name    string
		sysctl  map[string]string
		nss     []Namespace
		want    map[string]string
		wantMsg string
	}{
		{name: "none", nss: all},
		{
			name: "namespaced parameters keyed by path",
			sysctl: map[string]string{
				"net.ipv4.ip_forward":               "1",
				"net/ipv4/conf/eth0.100/forwarding": "1",
				"kernel.shmmax":                     "1000",
				"fs.mqueue.msg_max":                 "20",
				"kernel.domainname":                 "example.org",
			},
			nss: all,
			want: map[string]string{
				"net/ipv4/ip_forward":               "1",
				"net/ipv4/conf/eth0.100/forwarding": "1",
				"kernel/shmmax":                     "1000",
				"fs/mqueue/msg_max":                 "20",
				"kernel/domainname":                 "example.org",
			},
		},
		{name: "host-wide parameter", sysctl: map[string]string{"kernel.pid_max": "100"}, nss: all,
			wantMsg: `sysctl "kernel.pid_max" is not scoped to a namespace`},
		{name: "vm parameter", sysctl: map[string]string{"vm.swappiness": "0"}, nss: all,
			wantMsg: "it would change the host"},
		{name: "net without a network namespace", sysctl: map[string]string{"net.ipv4.ip_forward": "1"},
			nss: []Namespace{{Type: NamespaceIPC}}, wantMsg: `sysctl "net.ipv4.ip_forward" needs a network namespace`},
		{name: "ipc without an ipc namespace", sysctl: map[string]string{"kernel.msgmax": "1"},
			nss: []Namespace{{Type: NamespaceNetwork}}, wantMsg: "needs a ipc namespace"},
		{name: "escaping name", sysctl: map[string]string{"net/../../etc": "1"}, nss: all, wantMsg: "not a valid name"},
		{name: "empty element", sysctl: map[string]string{"net..ipv4": "1"}, nss: all, wantMsg: "not a valid name"},
		{name: "same parameter twice", sysctl: map[string]string{"net.ipv4.ip_forward": "1", "net/ipv4/ip_forward": "0"},
			nss: all, wantMsg: "given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sysctls(&specs.Linux{Sysctl: tc.sysctl}, tc.nss)
			if tc.wantMsg != "" {
				if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("sysctls() error = %v, want invalid argument and %q", err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("sysctls() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckUTSNames(t *testing.T) {
	tests := []struct {
		name    string
		spec    *specs.Spec
		nss     []Namespace
		wantMsg string
	}{
		{name: "hostname with a uts namespace", spec: &specs.Spec{Hostname: "h", Domainname: "d"}, nss: []Namespace{{Type: NamespaceUTS}}},
		{name: "nothing to set", spec: &specs.Spec{}},
		{name: "hostname on the host's", spec: &specs.Spec{Hostname: "h"}, wantMsg: `hostname "h" needs a uts namespace`},
		{name: "domainname on the host's", spec: &specs.Spec{Domainname: "d"}, nss: []Namespace{{Type: NamespaceNetwork}},
			wantMsg: `domainname "d" needs a uts namespace`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkUTSNames(tc.spec, tc.nss)
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("checkUTSNames() error = %v, want invalid argument and %q", err, tc.wantMsg)
			}
		})
	}
}

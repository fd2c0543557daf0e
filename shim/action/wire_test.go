package action

import (
	"testing"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The hand-written encodings are checked against containerd's generated
// types, which the binary does not link but the tests may.

func TestDecodeBootstrapParams(t *testing.T) {
	dir := "/run/s"
	full := &bootapi.BootstrapParams{
		InstanceID: "c1", Namespace: "k8s.io", LogLevel: bootapi.LogLevel_LOG_LEVEL_TRACE,
		ContainerdVersion: "2.4.2", ContainerdTtrpcAddress: "/t.sock", ContainerdGrpcAddress: "/g.sock",
		ContainerdBinary: "/usr/bin/containerd", SocketDir: &dir,
		Extensions: []*bootapi.Extension{{Value: &anypb.Any{TypeUrl: "x", Value: []byte{1, 2}}}},
	}
	data, err := proto.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		want  bootstrapParams
		fails bool
	}{
		{name: "every field, unknown ones skipped", data: data, want: bootstrapParams{
			instanceID: "c1", namespace: "k8s.io", logLevel: logLevelTrace,
			ttrpcAddress: "/t.sock", grpcAddress: "/g.sock", socketDir: "/run/s",
		}},
		{name: "empty", data: nil},
		{name: "debug level", data: mustMarshal(t, &bootapi.BootstrapParams{LogLevel: bootapi.LogLevel_LOG_LEVEL_DEBUG}),
			want: bootstrapParams{logLevel: logLevelDebug}},
		{name: "truncated", data: data[:len(data)-3], fails: true},
		{name: "string field as varint: unknown", data: []byte{0x08, 0x01}},
		{name: "invalid UTF-8", data: []byte{0x0a, 0x01, 0xff}, fails: true},
		{name: "log level as bytes: unknown", data: []byte{0x1a, 0x00}},
		{name: "bad tag", data: []byte{0x00}, fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeBootstrapParams(tc.data)
			if (err != nil) != tc.fails {
				t.Fatalf("error %v, want failure %v", err, tc.fails)
			}
			// proto.Unmarshal must agree on what is malformed.
			if perr := proto.Unmarshal(tc.data, &bootapi.BootstrapParams{}); (perr != nil) != tc.fails {
				t.Errorf("proto.Unmarshal says %v, the decoder %v", perr, err)
			}
			if !tc.fails && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEncodeBootstrapResult(t *testing.T) {
	var res bootapi.BootstrapResult
	if err := proto.Unmarshal(encodeBootstrapResult(3, "unix:///s/x", "ttrpc"), &res); err != nil {
		t.Fatal(err)
	}
	if res.Version != 3 || res.Address != "unix:///s/x" || res.Protocol != "ttrpc" {
		t.Fatalf("decoded %+v", &res)
	}
}

func TestEncodeDeleteResponse(t *testing.T) {
	for _, tc := range []struct {
		pid, status uint32
		at          time.Time
	}{
		{0, 137, time.Unix(1764480000, 123456789)},
		{42, 0, time.Unix(1764480000, 0)},
		{7, 1, time.Unix(0, 5)},
	} {
		var res taskv3.DeleteResponse
		if err := proto.Unmarshal(encodeDeleteResponse(tc.pid, tc.status, tc.at), &res); err != nil {
			t.Fatal(err)
		}
		if res.Pid != tc.pid || res.ExitStatus != tc.status || !res.ExitedAt.AsTime().Equal(tc.at) {
			t.Errorf("decoded pid %d status %d at %v, want %d %d %v", res.Pid, res.ExitStatus, res.ExitedAt.AsTime(), tc.pid, tc.status, tc.at)
		}
	}
}

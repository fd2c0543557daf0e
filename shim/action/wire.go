package action

import (
	"errors"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The few protobuf messages the actions exchange with containerd, encoded
// and decoded by hand: the generated types would bring the descriptors of
// containerd's whole API into the binary and initialise them on every run.
// Field numbers are from containerd's api/runtime/bootstrap/v1 and
// api/runtime/task/v3; the tests check them against the generated types.

// bootstrapParams is what the action needs of BootstrapParams, which
// containerd 2.3+ writes on the start action's stdin.
type bootstrapParams struct {
	instanceID   string // 1
	namespace    string // 2
	logLevel     int32  // 3, an enum: negative is more verbose than info
	ttrpcAddress string // 5
	grpcAddress  string // 6
	socketDir    string // 9
}

// The log levels of BootstrapParams that ask for debug output.
const (
	logLevelTrace = -8
	logLevelDebug = -4
)

var errMalformed = errors.New("malformed protobuf message")

// decodeBootstrapParams decodes data as BootstrapParams. Unknown fields are
// skipped, as protobuf requires; a malformed field, or a string field that
// is not valid UTF-8, is an error: what proto.Unmarshal would say.
func decodeBootstrapParams(data []byte) (bootstrapParams, error) {
	var p bootstrapParams
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return p, errMalformed
		}
		data = data[n:]
		var target *string
		switch num {
		case 1:
			target = &p.instanceID
		case 2:
			target = &p.namespace
		case 5:
			target = &p.ttrpcAddress
		case 6:
			target = &p.grpcAddress
		case 9:
			target = &p.socketDir
		}
		// A known field with another wire type is an unknown field to
		// protobuf, skipped like one.
		switch {
		case target != nil && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(data)
			if n < 0 || !utf8.Valid(v) {
				return p, errMalformed
			}
			*target = string(v)
			data = data[n:]
			continue
		case num == 3 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return p, errMalformed
			}
			p.logLevel = int32(v)
			data = data[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, data)
		if n < 0 {
			return p, errMalformed
		}
		data = data[n:]
	}
	return p, nil
}

// encodeBootstrapResult encodes BootstrapResult{version, address, protocol}.
func encodeBootstrapResult(version int32, address, protocol string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(int64(version)))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, address)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, protocol)
	return b
}

// encodeDeleteResponse encodes the task API's DeleteResponse{pid,
// exit_status, exited_at}, the delete action's reply.
func encodeDeleteResponse(pid, exitStatus uint32, exitedAt time.Time) []byte {
	var ts []byte
	if s := exitedAt.Unix(); s != 0 {
		ts = protowire.AppendTag(ts, 1, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(s))
	}
	if ns := exitedAt.Nanosecond(); ns != 0 {
		ts = protowire.AppendTag(ts, 2, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(ns))
	}
	var b []byte
	if pid != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(pid))
	}
	if exitStatus != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(exitStatus))
	}
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)
	return b
}

package installer

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
)

// BlockBegin and BlockEnd are the marker lines around everything the
// installer adds to a file. They are TOML comments, and k3s copies them
// unchanged from its config template into the config it renders.
const (
	BlockBegin = "# BEGIN containerd-shim-wasmedge"
	BlockEnd   = "# END containerd-shim-wasmedge"
)

// createdTag follows BlockBegin when the installer created the whole file,
// so uninstall knows to delete the file rather than leave it empty.
const createdTag = " (file created by wasmedge-installer)"

// blockNotice is the first line inside a block: whoever opens the file
// learns that hand edits there do not survive the next install.
const blockNotice = "# Managed by wasmedge-installer: edits between these markers are replaced on every install.\n"

// blockSpan is where a block sits in a file: start is the offset of its
// BEGIN line, end the offset just past its END line.
type blockSpan struct {
	start, end int
	created    bool
}

// findBlock locates the block. A file with a BEGIN but no END, an END
// without BEGIN, or two blocks was edited by hand in a way the installer
// cannot undo safely, so that is an error rather than a guess.
func findBlock(content []byte) (blockSpan, bool, error) {
	var (
		span        blockSpan
		found, open bool
	)
	for off := 0; off < len(content); {
		next := len(content)
		if nl := bytes.IndexByte(content[off:], '\n'); nl >= 0 {
			next = off + nl + 1
		}
		line := strings.TrimRight(string(content[off:next]), " \t\r\n")
		switch line {
		case BlockBegin, BlockBegin + createdTag:
			if open || found {
				return blockSpan{}, false, fmt.Errorf("%w: more than one %q line", errdefs.ErrInvalidArgument, BlockBegin)
			}
			open = true
			span.start = off
			span.created = line != BlockBegin
		case BlockEnd:
			if !open {
				return blockSpan{}, false, fmt.Errorf("%w: %q without a %q line before it", errdefs.ErrInvalidArgument, BlockEnd, BlockBegin)
			}
			open = false
			found = true
			span.end = next
		}
		off = next
	}
	if open {
		return blockSpan{}, false, fmt.Errorf("%w: %q without a matching %q line", errdefs.ErrInvalidArgument, BlockBegin, BlockEnd)
	}
	return span, found, nil
}

// renderBlock frames body (which must end in a newline) with the markers.
func renderBlock(body string, created bool) string {
	begin := BlockBegin
	if created {
		begin += createdTag
	}
	return begin + "\n" + blockNotice + body + BlockEnd + "\n"
}

// SetBlock returns content with the block holding body: an existing block
// is replaced in place, otherwise the block is appended after a newline of
// its own (which RemoveBlock takes away again). created marks a block that
// makes up a file the installer creates; it is kept from an existing block.
func SetBlock(content []byte, body string, created bool) ([]byte, error) {
	if body != "" && !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	span, found, err := findBlock(content)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	switch {
	case found:
		out.Write(content[:span.start])
		out.WriteString(renderBlock(body, span.created))
		out.Write(content[span.end:])
	case len(content) == 0:
		out.WriteString(renderBlock(body, created))
	default:
		out.Write(content)
		out.WriteByte('\n')
		out.WriteString(renderBlock(body, created))
	}
	return out.Bytes(), nil
}

// RemoveBlock returns content without the block and the newline SetBlock
// put before it. created reports that the block came from a file the
// installer created; removed, that there was a block at all.
func RemoveBlock(content []byte) (rest []byte, created, removed bool, err error) {
	span, found, err := findBlock(content)
	if err != nil {
		return nil, false, false, err
	}
	if !found {
		return content, false, false, nil
	}
	start := span.start
	if start > 0 {
		start--
	}
	rest = make([]byte, 0, len(content)-(span.end-start))
	rest = append(rest, content[:start]...)
	rest = append(rest, content[span.end:]...)
	return rest, span.created, true, nil
}

package installer

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestSetBlockAndRemoveBlockRoundTrip(t *testing.T) {
	const body = "a = 1\n"
	block := BlockBegin + "\n" + blockNotice + body + BlockEnd + "\n"
	for _, tc := range []struct {
		name, original, want string
	}{
		{"empty file", "", BlockBegin + createdTag + "\n" + blockNotice + body + BlockEnd + "\n"},
		{"trailing newline", "x = 1\n", "x = 1\n\n" + block},
		{"no trailing newline", "x = 1", "x = 1\n" + block},
		{"only blank lines", "\n\n", "\n\n\n" + block},
		{"crlf file", "x = 1\r\n", "x = 1\r\n\n" + block},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created := tc.original == ""
			out, err := SetBlock([]byte(tc.original), body, created)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Fatalf("SetBlock:\n%q\nwant\n%q", out, tc.want)
			}
			again, err := SetBlock(out, body, created)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(out) {
				t.Fatalf("second SetBlock changed the file:\n%q\n%q", out, again)
			}
			rest, gotCreated, removed, err := RemoveBlock(out)
			if err != nil || !removed {
				t.Fatalf("RemoveBlock: removed=%v err=%v", removed, err)
			}
			if gotCreated != created {
				t.Errorf("created = %v, want %v", gotCreated, created)
			}
			if string(rest) != tc.original {
				t.Fatalf("RemoveBlock left %q, want the original %q", rest, tc.original)
			}
		})
	}
}

func TestSetBlockReplacesInPlace(t *testing.T) {
	original := "top = 1\n"
	withOld, err := SetBlock([]byte(original), "old = 1\n", false)
	if err != nil {
		t.Fatal(err)
	}
	// Text after the block must survive a replacement untouched.
	withTail := string(withOld) + "[tail]\nz = 2\n"
	out, err := SetBlock([]byte(withTail), "new = 2", false)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "old = 1") || !strings.Contains(s, "new = 2\n"+BlockEnd) {
		t.Fatalf("block not replaced:\n%s", s)
	}
	if !strings.HasPrefix(s, original) || !strings.HasSuffix(s, BlockEnd+"\n[tail]\nz = 2\n") {
		t.Fatalf("text around the block changed:\n%s", s)
	}
	if strings.Count(s, BlockBegin) != 1 {
		t.Fatalf("duplicated block:\n%s", s)
	}
}

func TestSetBlockKeepsCreatedMarkOfExistingBlock(t *testing.T) {
	out, err := SetBlock(nil, "a = 1\n", true)
	if err != nil {
		t.Fatal(err)
	}
	out, err = SetBlock(out, "a = 2\n", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, created, _, _ := RemoveBlock(out); !created {
		t.Fatalf("replacing the block of a created file lost the mark:\n%s", out)
	}
}

func TestRemoveBlockWithoutBlock(t *testing.T) {
	in := "a = 1\n# BEGIN something else\n"
	rest, created, removed, err := RemoveBlock([]byte(in))
	if err != nil || removed || created || string(rest) != in {
		t.Fatalf("RemoveBlock = %q, %v, %v, %v", rest, created, removed, err)
	}
}

func TestDamagedBlocksAreRefused(t *testing.T) {
	for name, content := range map[string]string{
		"begin without end": "a = 1\n" + BlockBegin + "\nb = 2\n",
		"end without begin": "a = 1\n" + BlockEnd + "\n",
		"two blocks":        BlockBegin + "\n" + BlockEnd + "\n" + BlockBegin + "\n" + BlockEnd + "\n",
		"nested begin":      BlockBegin + "\n" + BlockBegin + "\n" + BlockEnd + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := SetBlock([]byte(content), "x = 1\n", false); !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("SetBlock: err = %v, want ErrInvalidArgument", err)
			}
			if _, _, _, err := RemoveBlock([]byte(content)); !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("RemoveBlock: err = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

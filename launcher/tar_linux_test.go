package launcher

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

type entry struct {
	name, link, body string
	typ              byte
}

func tarOf(t *testing.T, ents []entry) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o755, Size: int64(len(e.body)), Uid: os.Getuid(), Gid: os.Getgid()}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			_, _ = tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return &b
}

func TestUntar(t *testing.T) {
	dir := t.TempDir()
	err := untar(tarOf(t, []entry{
		{name: "./", typ: tar.TypeDir},
		{name: "bin/busybox", body: "elf", typ: tar.TypeReg},
		{name: "bin/sh", link: "busybox", typ: tar.TypeSymlink},
		{name: "bin/ash", link: "bin/busybox", typ: tar.TypeLink},
		{name: "etc/", typ: tar.TypeDir},
	}), dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "bin/sh")); err != nil || string(b) != "elf" {
		t.Errorf("bin/sh: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "bin/ash")); err != nil || string(b) != "elf" {
		t.Errorf("bin/ash (hard link): %q %v", b, err)
	}
}

// TestUntarStaysInside feeds tarballs that try to write outside the
// target: through "..", and through a symlink planted by an earlier entry.
func TestUntarStaysInside(t *testing.T) {
	for _, c := range []struct {
		name string
		ents []entry
	}{
		{"dot-dot", []entry{{name: "../escape", body: "x", typ: tar.TypeReg}}},
		{"through symlink", []entry{
			{name: "evil", link: "..", typ: tar.TypeSymlink},
			{name: "evil/escape", body: "x", typ: tar.TypeReg},
		}},
		{"absolute symlink", []entry{
			{name: "evil", link: "/tmp", typ: tar.TypeSymlink},
			{name: "evil/escape", body: "x", typ: tar.TypeReg},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			outer := t.TempDir()
			dir := filepath.Join(outer, "root")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			_ = untar(tarOf(t, c.ents), dir)
			if _, err := os.Stat(filepath.Join(outer, "escape")); err == nil {
				t.Error("an entry was written outside the target")
			}
			if _, err := os.Stat("/tmp/escape"); err == nil {
				t.Error("an entry was written to /tmp")
			}
		})
	}
}

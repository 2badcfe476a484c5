package testutil

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

// TarEntry is one entry of a test layer (TarBytes): a regular file with
// Body, a link to Link, or a directory; Mode 0 is 0755.
type TarEntry struct {
	Name, Link, Body string
	Type             byte
	Mode             int64
}

// TarBytes writes ents as a tar stream.
func TarBytes(t testing.TB, ents []TarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		mode := e.Mode
		if mode == 0 {
			mode = 0o755
		}
		h := &tar.Header{Name: e.Name, Linkname: e.Link, Typeflag: e.Type, Mode: mode}
		if e.Type == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.Type == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FileSum is the SHA-256 of the file at p (a test's check that a file it
// must not touch is unchanged).
func FileSum(t testing.TB, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// ReadTree maps each regular file under dir to its contents.
func ReadTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// MaliciousLayers are layers that try to write outside the root: an
// extractor must refuse each (package layerfs, ErrUnsafeEntry) but those
// marked Replaced.
var MaliciousLayers = []struct {
	Name string
	Ents []TarEntry
	// Replaced: the layer is not refused but made harmless (a directory
	// entry replaces the symlink in its place, as Docker does).
	Replaced bool
}{
	{"dot-dot path", []TarEntry{{Name: "../../../../../../etc/passwd", Body: "pwned\n", Type: tar.TypeReg}}, false},
	{"dot-dot inside path", []TarEntry{{Name: "etc/../../escape", Body: "x", Type: tar.TypeReg}}, false},
	{"write through relative symlink", []TarEntry{
		{Name: "evil", Link: "../../../../../../etc", Type: tar.TypeSymlink},
		{Name: "evil/passwd", Body: "pwned\n", Type: tar.TypeReg},
	}, false},
	{"write through absolute symlink", []TarEntry{
		{Name: "evil", Link: "/etc", Type: tar.TypeSymlink},
		{Name: "evil/passwd", Body: "pwned\n", Type: tar.TypeReg},
	}, false},
	{"directory through absolute symlink", []TarEntry{
		{Name: "evil", Link: "/etc", Type: tar.TypeSymlink},
		{Name: "evil/", Type: tar.TypeDir, Mode: 0o777},
		{Name: "evil/x/", Type: tar.TypeDir},
	}, true},
	{"hard link climbing out", []TarEntry{{Name: "passwd", Link: "../../../../../../etc/passwd", Type: tar.TypeLink}}, false},
	{"hard link to a host path", []TarEntry{{Name: "passwd", Link: "/etc/passwd", Type: tar.TypeLink}}, false},
	{"hard link through a symlink", []TarEntry{
		{Name: "evil", Link: "/etc", Type: tar.TypeSymlink},
		{Name: "passwd", Link: "evil/passwd", Type: tar.TypeLink},
	}, false},
}

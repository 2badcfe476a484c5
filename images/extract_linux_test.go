package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nsagent/nsagent/internal/testutil"
)

// ent is one tar entry of a test layer.
type ent struct {
	name, link, body string
	typ              byte
	mode             int64
}

func tarBytes(t testing.TB, ents []ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		mode := e.mode
		if mode == 0 {
			mode = 0o755
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func fileSum(t testing.TB, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// maliciousLayers are layers that try to write outside the root: each
// must be refused with ErrUnsafeEntry.
var maliciousLayers = []struct {
	name string
	ents []ent
	// replaced: the layer is not refused but made harmless (a directory
	// entry replaces the symlink in its place, as Docker does).
	replaced bool
}{
	{"dot-dot path", []ent{{name: "../../../../../../etc/passwd", body: "pwned\n", typ: tar.TypeReg}}, false},
	{"dot-dot inside path", []ent{{name: "etc/../../escape", body: "x", typ: tar.TypeReg}}, false},
	{"write through relative symlink", []ent{
		{name: "evil", link: "../../../../../../etc", typ: tar.TypeSymlink},
		{name: "evil/passwd", body: "pwned\n", typ: tar.TypeReg},
	}, false},
	{"write through absolute symlink", []ent{
		{name: "evil", link: "/etc", typ: tar.TypeSymlink},
		{name: "evil/passwd", body: "pwned\n", typ: tar.TypeReg},
	}, false},
	{"directory through absolute symlink", []ent{
		{name: "evil", link: "/etc", typ: tar.TypeSymlink},
		{name: "evil/", typ: tar.TypeDir, mode: 0o777},
		{name: "evil/x/", typ: tar.TypeDir},
	}, true},
	{"hard link climbing out", []ent{{name: "passwd", link: "../../../../../../etc/passwd", typ: tar.TypeLink}}, false},
	{"hard link to a host path", []ent{{name: "passwd", link: "/etc/passwd", typ: tar.TypeLink}}, false},
	{"hard link through a symlink", []ent{
		{name: "evil", link: "/etc", typ: tar.TypeSymlink},
		{name: "passwd", link: "evil/passwd", typ: tar.TypeLink},
	}, false},
}

func TestExtractRefusesEscapes(t *testing.T) {
	testutil.RequireRoot(t)
	before := fileSum(t, "/etc/passwd")
	fi, err := os.Stat("/etc")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []WhiteoutMode{WhiteoutNone, WhiteoutApply, WhiteoutOverlay} {
		for _, c := range maliciousLayers {
			t.Run(c.name, func(t *testing.T) {
				outer := t.TempDir()
				dir := filepath.Join(outer, "root")
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				err := Extract(bytes.NewReader(tarBytes(t, c.ents)), dir, ExtractOptions{Whiteouts: mode})
				switch {
				case c.replaced && err != nil:
					t.Errorf("Extract = %v, want the symlink replaced", err)
				case c.replaced:
					if fi, err := os.Lstat(filepath.Join(dir, "evil/x")); err != nil || !fi.IsDir() {
						t.Errorf("evil/x: %v %v, want a directory inside the root", fi, err)
					}
				case !errors.Is(err, ErrUnsafeEntry):
					t.Errorf("Extract = %v, want an %v", err, ErrUnsafeEntry)
				}
				if ents, _ := os.ReadDir(outer); len(ents) != 1 {
					t.Errorf("something was written beside the root: %v", ents)
				}
				if got := fileSum(t, "/etc/passwd"); got != before {
					t.Fatal("/etc/passwd changed")
				}
				if fi2, _ := os.Stat("/etc"); fi2.Mode() != fi.Mode() {
					t.Fatalf("/etc mode changed: %v -> %v", fi.Mode(), fi2.Mode())
				}
				if _, err := os.Stat("/etc/x"); err == nil {
					t.Fatal("/etc/x was made")
				}
			})
		}
	}
}

// TestExtractWhiteouts applies an upper layer that deletes a file and
// replaces a directory (opaque) onto a lower one, in both whiteout forms.
func TestExtractWhiteouts(t *testing.T) {
	testutil.RequireRoot(t)
	lower := tarBytes(t, []ent{
		{name: "etc/", typ: tar.TypeDir},
		{name: "etc/gone", body: "lower", typ: tar.TypeReg},
		{name: "etc/kept", body: "lower", typ: tar.TypeReg},
		{name: "opt/", typ: tar.TypeDir},
		{name: "opt/old", body: "lower", typ: tar.TypeReg},
		{name: "opt/sub/", typ: tar.TypeDir},
		{name: "opt/sub/deep", body: "lower", typ: tar.TypeReg},
		{name: "dir-to-file/", typ: tar.TypeDir},
		{name: "dir-to-file/x", body: "lower", typ: tar.TypeReg},
		{name: "srv/sub/deep", body: "lower", typ: tar.TypeReg},
		{name: "srv/top", body: "lower", typ: tar.TypeReg},
	})
	upper := tarBytes(t, []ent{
		{name: "etc/.wh.gone", typ: tar.TypeReg},
		{name: "opt/", typ: tar.TypeDir},
		{name: "opt/new", body: "upper", typ: tar.TypeReg},
		{name: "opt/.wh..wh..opq", typ: tar.TypeReg},
		{name: "dir-to-file", body: "upper", typ: tar.TypeReg},
		// The opaque marker after a subdirectory the layer writes: the
		// lower layer's srv/sub/deep must still go.
		{name: "srv/", typ: tar.TypeDir},
		{name: "srv/sub/", typ: tar.TypeDir},
		{name: "srv/sub/new", body: "upper", typ: tar.TypeReg},
		{name: "srv/.wh..wh..opq", typ: tar.TypeReg},
	})
	t.Run("apply", func(t *testing.T) {
		dir := t.TempDir()
		for _, l := range [][]byte{lower, upper} {
			if err := Extract(bytes.NewReader(l), dir, ExtractOptions{Whiteouts: WhiteoutApply}); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]string{"etc/kept": "lower", "opt/new": "upper", "dir-to-file": "upper", "srv/sub/new": "upper"}
		if got := readTree(t, dir); !equalMaps(got, want) {
			t.Errorf("tree = %v, want %v", got, want)
		}
	})
	t.Run("overlay", func(t *testing.T) {
		dir := t.TempDir()
		if err := Extract(bytes.NewReader(upper), dir, ExtractOptions{Whiteouts: WhiteoutOverlay}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(filepath.Join(dir, "etc/gone"))
		if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			t.Errorf("etc/gone: want a 0/0 character device (overlayfs whiteout), got %v %v", fi, err)
		}
		if v, err := getxattr(filepath.Join(dir, "opt"), opaqueXattr); err != nil || v != "y" {
			t.Errorf("opt: %s = %q %v, want y", opaqueXattr, v, err)
		}
	})
}

// readTree maps each regular file under dir to its contents.
func readTree(t testing.TB, dir string) map[string]string {
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

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

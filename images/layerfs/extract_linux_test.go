package layerfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/nsagent/nsagent/internal/testutil"
)

func TestExtractRefusesEscapes(t *testing.T) {
	testutil.RequireRoot(t)
	before := testutil.FileSum(t, "/etc/passwd")
	fi, err := os.Stat("/etc")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []WhiteoutMode{WhiteoutNone, WhiteoutApply, WhiteoutOverlay} {
		for _, c := range testutil.MaliciousLayers {
			t.Run(c.Name, func(t *testing.T) {
				outer := t.TempDir()
				dir := filepath.Join(outer, "root")
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				err := Extract(bytes.NewReader(testutil.TarBytes(t, c.Ents)), dir, ExtractOptions{Whiteouts: mode})
				switch {
				case c.Replaced && err != nil:
					t.Errorf("Extract = %v, want the symlink replaced", err)
				case c.Replaced:
					if fi, err := os.Lstat(filepath.Join(dir, "evil/x")); err != nil || !fi.IsDir() {
						t.Errorf("evil/x: %v %v, want a directory inside the root", fi, err)
					}
				case !errors.Is(err, ErrUnsafeEntry):
					t.Errorf("Extract = %v, want an %v", err, ErrUnsafeEntry)
				}
				if ents, _ := os.ReadDir(outer); len(ents) != 1 {
					t.Errorf("something was written beside the root: %v", ents)
				}
				if got := testutil.FileSum(t, "/etc/passwd"); got != before {
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
	lower := testutil.TarBytes(t, []testutil.TarEntry{
		{Name: "etc/", Type: tar.TypeDir},
		{Name: "etc/gone", Body: "lower", Type: tar.TypeReg},
		{Name: "etc/kept", Body: "lower", Type: tar.TypeReg},
		{Name: "opt/", Type: tar.TypeDir},
		{Name: "opt/old", Body: "lower", Type: tar.TypeReg},
		{Name: "opt/sub/", Type: tar.TypeDir},
		{Name: "opt/sub/deep", Body: "lower", Type: tar.TypeReg},
		{Name: "dir-to-file/", Type: tar.TypeDir},
		{Name: "dir-to-file/x", Body: "lower", Type: tar.TypeReg},
		{Name: "srv/sub/deep", Body: "lower", Type: tar.TypeReg},
		{Name: "srv/top", Body: "lower", Type: tar.TypeReg},
	})
	upper := testutil.TarBytes(t, []testutil.TarEntry{
		{Name: "etc/.wh.gone", Type: tar.TypeReg},
		{Name: "opt/", Type: tar.TypeDir},
		{Name: "opt/new", Body: "upper", Type: tar.TypeReg},
		{Name: "opt/.wh..wh..opq", Type: tar.TypeReg},
		{Name: "dir-to-file", Body: "upper", Type: tar.TypeReg},
		// The opaque marker after a subdirectory the layer writes: the
		// lower layer's srv/sub/deep must still go.
		{Name: "srv/", Type: tar.TypeDir},
		{Name: "srv/sub/", Type: tar.TypeDir},
		{Name: "srv/sub/new", Body: "upper", Type: tar.TypeReg},
		{Name: "srv/.wh..wh..opq", Type: tar.TypeReg},
	})
	t.Run("apply", func(t *testing.T) {
		dir := t.TempDir()
		for _, l := range [][]byte{lower, upper} {
			if err := Extract(bytes.NewReader(l), dir, ExtractOptions{Whiteouts: WhiteoutApply}); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]string{"etc/kept": "lower", "opt/new": "upper", "dir-to-file": "upper", "srv/sub/new": "upper"}
		if got := testutil.ReadTree(t, dir); !maps.Equal(got, want) {
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

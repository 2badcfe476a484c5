package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/nsagent/nsagent/images/layerfs"
	"github.com/nsagent/nsagent/internal/testutil"
)

// layerOf makes a gzip-compressed layer of the entries.
func layerOf(t testing.TB, ents []testutil.TarEntry) v1.Layer {
	t.Helper()
	b := testutil.TarBytes(t, ents)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf stacks layers (bottom first) into a linux/amd64 image with cfg.
func imageOf(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// whiteoutImage is a two-layer image whose upper layer deletes a file
// (whiteout) and replaces a directory (opaque).
func whiteoutImage(t testing.TB) v1.Image {
	lower := layerOf(t, []testutil.TarEntry{
		{Name: "etc/", Type: tar.TypeDir},
		{Name: "etc/gone", Body: "lower", Type: tar.TypeReg},
		{Name: "etc/kept", Body: "lower", Type: tar.TypeReg, Mode: 0o640},
		{Name: "opt/", Type: tar.TypeDir},
		{Name: "opt/old", Body: "lower", Type: tar.TypeReg},
		{Name: "opt/sub/", Type: tar.TypeDir},
		{Name: "opt/sub/deep", Body: "lower", Type: tar.TypeReg},
		{Name: "bin/", Type: tar.TypeDir},
		{Name: "bin/tool", Body: "tool", Type: tar.TypeReg, Mode: 0o4755},
		{Name: "bin/alias", Link: "bin/tool", Type: tar.TypeLink},
		{Name: "bin/sym", Link: "/bin/tool", Type: tar.TypeSymlink},
	})
	upper := layerOf(t, []testutil.TarEntry{
		{Name: "etc/.wh.gone", Type: tar.TypeReg},
		{Name: "opt/", Type: tar.TypeDir},
		{Name: "opt/.wh..wh..opq", Type: tar.TypeReg},
		{Name: "opt/new", Body: "upper", Type: tar.TypeReg},
	})
	return imageOf(t, v1.Config{Env: []string{"PATH=/bin", "IMAGE=whiteouts"}, WorkingDir: "/opt"}, lower, upper)
}

func ociLayout(t testing.TB, img v1.Image, ref string) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		t.Fatal(err)
	}
	return dir
}

func checkWhiteoutTree(t *testing.T, dir string) {
	t.Helper()
	want := map[string]string{"etc/kept": "lower", "opt/new": "upper", "bin/tool": "tool", "bin/alias": "tool"}
	if got := testutil.ReadTree(t, dir); !maps.Equal(got, want) {
		t.Errorf("tree = %v, want %v", got, want)
	}
	var a, b unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "bin/tool"), &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(filepath.Join(dir, "bin/alias"), &b); err != nil {
		t.Fatal(err)
	}
	if a.Ino != b.Ino {
		t.Error("bin/alias is not a hard link of bin/tool")
	}
	if a.Mode&0o7777 != 0o4755 {
		t.Errorf("bin/tool mode %o, want 4755", a.Mode&0o7777)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/sym")); err != nil || l != "/bin/tool" {
		t.Errorf("bin/sym -> %q %v, want /bin/tool", l, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "etc/kept")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("etc/kept: %v %v, want mode 0640", fi, err)
	}
}

// TestPullOCILayoutWhiteouts pulls a two-layer image from an OCI layout:
// the cache holds overlayfs whiteouts, the laid-out tree has the deleted
// file and the replaced directory's old contents gone, and an overlay
// mount of the cached layers shows the same tree.
func TestPullOCILayoutWhiteouts(t *testing.T) {
	testutil.RequireRoot(t)
	dir := ociLayout(t, whiteoutImage(t), "test")
	st := &Store{Dir: t.TempDir()}
	src, err := ParseSource("oci:"+dir+":test", false)
	if err != nil {
		t.Fatal(err)
	}
	im, err := st.Pull(context.Background(), src, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Layers) != 2 || im.Config.WorkingDir != "/opt" || im.Config.Env[1] != "IMAGE=whiteouts" {
		t.Errorf("image = %+v", im)
	}
	root := filepath.Join(t.TempDir(), "root")
	if err := st.Export(context.Background(), im, root); err != nil {
		t.Fatal(err)
	}
	checkWhiteoutTree(t, root)

	// The same tree through overlayfs, as a launch sees it.
	wdir := t.TempDir()
	merged, opts, err := layerfs.OverlayRoot(im.LayerDirs(), wdir)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(merged, unix.MNT_DETACH) })
	checkWhiteoutTree(t, merged)
	if err := os.WriteFile(filepath.Join(merged, "etc/kept"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(im.LayerDirs()[1], "etc/kept")); string(b) != "lower" {
		t.Errorf("a write through the overlay reached the cache: %q", b)
	}

	// A second pull finds everything cached and unpacks nothing.
	ents, _ := os.ReadDir(filepath.Join(st.Dir, "layers"))
	mt := map[string]int64{}
	for _, e := range ents {
		fi, _ := os.Stat(filepath.Join(st.Dir, "layers", e.Name()))
		mt[e.Name()] = fi.ModTime().UnixNano()
	}
	if _, err := st.Pull(context.Background(), src, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	for n, m := range mt {
		fi, err := os.Stat(filepath.Join(st.Dir, "layers", n))
		if err != nil || fi.ModTime().UnixNano() != m {
			t.Errorf("layer %s was unpacked again", n)
		}
	}
}

// TestPullMaliciousLayer: a layer that writes through a symlink, climbs
// out with .. or hard-links /etc/passwd is refused; the host file is
// unchanged and the cache holds no image and no partial layer.
func TestPullMaliciousLayer(t *testing.T) {
	testutil.RequireRoot(t)
	before := testutil.FileSum(t, "/etc/passwd")
	for _, c := range testutil.MaliciousLayers {
		if c.Replaced {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			dir := ociLayout(t, imageOf(t, v1.Config{}, layerOf(t, c.Ents)), "evil")
			st := &Store{Dir: t.TempDir()}
			src, _ := ParseSource("oci:"+dir, false)
			_, err := st.Pull(context.Background(), src, PullOptions{})
			if !errors.Is(err, layerfs.ErrUnsafeEntry) || !strings.Contains(err.Error(), "layer sha256:") {
				t.Errorf("Pull = %v, want a refusal naming the layer", err)
			}
			if got := testutil.FileSum(t, "/etc/passwd"); got != before {
				t.Fatal("/etc/passwd changed")
			}
			for _, sub := range []string{"layers", "images", "tmp"} {
				if ents, _ := os.ReadDir(filepath.Join(st.Dir, sub)); len(ents) > 0 {
					t.Errorf("%s/ holds %v after a refused pull", sub, ents)
				}
			}
		})
	}
}

// TestPullRegistryCorruptBlob pushes the two-layer whiteout image to the
// loopback registry, pulls it intact, then corrupts its upper layer blob in the registry's storage and expects a pull
// to fail naming the layer and its digest, leaving no image cached.
func TestPullRegistryCorruptBlob(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	testutil.RequireRoot(t)
	reg := testutil.StartRegistry(t)
	img := whiteoutImage(t)
	ref, err := name.ParseReference(reg.Addr + "/corrupt:test")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	// Intact, it pulls and lays out like the OCI layout does.
	good := &Store{Dir: t.TempDir()}
	src, _ := ParseSource(ref.String(), false)
	im, err := good.Pull(context.Background(), src, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	if err := good.Export(context.Background(), im, root); err != nil {
		t.Fatal(err)
	}
	checkWhiteoutTree(t, root)

	layers, _ := img.Layers()
	d, _ := layers[1].Digest()
	b, err := os.ReadFile(reg.BlobPath(d.String()))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(reg.BlobPath(d.String()), b, 0o644); err != nil {
		t.Fatal(err)
	}
	st := &Store{Dir: t.TempDir()}
	_, err = st.Pull(context.Background(), src, PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "layer "+d.String()+": digest mismatch") {
		t.Fatalf("Pull = %v, want a digest mismatch naming layer %s", err, d)
	}
	if all, _ := st.List(); len(all) != 0 {
		t.Errorf("cache lists %d images after a failed pull", len(all))
	}
	if ents, _ := os.ReadDir(filepath.Join(st.Dir, "tmp")); len(ents) > 0 {
		t.Errorf("tmp/ holds %v", ents)
	}
}

func TestParseSource(t *testing.T) {
	for _, c := range []struct {
		name, in, want string
		insecure       bool
		bad            bool
	}{
		{name: "hub short name", in: "alpine", want: "docker.io/library/alpine:latest"},
		{name: "hub tag", in: "alpine:3.20", want: "docker.io/library/alpine:3.20"},
		{name: "hub user repo", in: "user/app:1", want: "docker.io/user/app:1"},
		{name: "loopback registry", in: "127.0.0.1:5000/busybox:test", want: "127.0.0.1:5000/busybox:test"},
		{name: "digest", in: "ghcr.io/x/y@sha256:" + strings.Repeat("a", 64), want: "ghcr.io/x/y@sha256:" + strings.Repeat("a", 64)},
		{name: "oci layout", in: "oci:/nonexistent/dir", want: "oci:/nonexistent/dir"},
		{name: "docker archive", in: "docker-archive:/x/img.tar", want: "docker-archive:/x/img.tar"},
		{name: "bad characters", in: "Bad!!ref", bad: true},
		{name: "empty", in: "", bad: true},
		{name: "missing absolute path", in: "/nonexistent/rootfs", bad: true},
		{name: "missing relative path", in: "./alpine-rootfs", bad: true},
		{name: "upper case repo", in: "127.0.0.1:5000/BusyBox", bad: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseSource(c.in, c.insecure)
			if c.bad {
				if !errors.Is(err, ErrBadReference) {
					t.Errorf("ParseSource(%q) = %v, %v; want %v", c.in, s, err, ErrBadReference)
				}
				return
			}
			if err != nil || s.String() != c.want {
				t.Errorf("ParseSource(%q) = %q, %v; want %q", c.in, s.String(), err, c.want)
			}
		})
	}
}

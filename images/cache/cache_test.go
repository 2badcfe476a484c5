package cache

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nsagent/nsagent/internal/testutil"
)

// TestLookupUser resolves an image's USER from the topmost layer's
// /etc/passwd and /etc/group, never the host's, and stops at a whiteout.
func TestLookupUser(t *testing.T) {
	root := t.TempDir()
	write := func(diffID, rel, body string) {
		p := filepath.Join(LayerDir(root, diffID), rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sha256:aa", "etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:100:100::/:/bin/sh\n")
	write("sha256:aa", "etc/group", "root:x:0:\nstaff:x:50:\n")
	write("sha256:bb", "etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:2000:2001::/:/bin/sh\n")
	im := &Image{Layers: []Layer{{DiffID: "sha256:aa"}, {DiffID: "sha256:bb"}}, CacheDir: root}
	for _, c := range []struct {
		name, user string
		uid, gid   int
		bad        bool
	}{
		{name: "numeric", user: "42", uid: 42},
		{name: "numeric pair", user: "42:43", uid: 42, gid: 43},
		{name: "name from the top layer", user: "app", uid: 2000, gid: 2001},
		{name: "name and group from the lower layer", user: "app:staff", uid: 2000, gid: 50},
		{name: "unknown name", user: "ghost", bad: true},
		{name: "unknown group", user: "app:ghosts", bad: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			uid, gid, err := im.LookupUser(c.user)
			if c.bad {
				if err == nil {
					t.Errorf("LookupUser(%q) = %d:%d, want an error", c.user, uid, gid)
				}
				return
			}
			if err != nil || uid != c.uid || gid != c.gid {
				t.Errorf("LookupUser(%q) = %d:%d %v, want %d:%d", c.user, uid, gid, err, c.uid, c.gid)
			}
		})
	}
	t.Run("whiteout hides the lower passwd", func(t *testing.T) {
		testutil.RequireRoot(t)
		p := filepath.Join(LayerDir(root, "sha256:bb"), "etc/passwd")
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
			t.Fatal(err)
		}
		if uid, gid, err := im.LookupUser("app"); err == nil {
			t.Errorf("LookupUser(app) = %d:%d through a whiteout", uid, gid)
		}
	})
}

// writeCache lays out a cache at root holding one image, sha256:im1, of
// one layer, named by refs as given.
func writeCache(t *testing.T, root string, refs, names map[string]string) *Image {
	t.Helper()
	im := &Image{Digest: "sha256:im1", Layers: []Layer{{DiffID: "sha256:l1"}}, Config: ImageConfig{Cmd: []string{"sh"}}}
	for p, v := range map[string]any{ImagePath(root, im.Digest): im, RefsPath(root): refs, NamesPath(root): names} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(LayerDir(root, "sha256:l1"), 0o755); err != nil {
		t.Fatal(err)
	}
	return im
}

// TestLookupName: a name given before leads to its image through the
// reference table, a digest reference to the image it names; a new name,
// a reference the table no longer has and an image missing a layer are
// ErrNotCached, the launch binary's cue to hand the launch to the full
// binary.
func TestLookupName(t *testing.T) {
	root := t.TempDir()
	writeCache(t, root,
		map[string]string{"docker.io/library/busybox:latest": "sha256:im1"},
		map[string]string{
			"busybox":        "docker.io/library/busybox:latest",
			"busybox@sha256": "docker.io/library/busybox@sha256:im1",
			"gone":           "docker.io/library/gone:1",
		})
	for _, name := range []string{"busybox", "busybox@sha256"} {
		im, err := LookupName(root, name)
		if err != nil || im.Digest != "sha256:im1" || im.Config.Cmd[0] != "sh" {
			t.Fatalf("LookupName(%q) = %+v, %v", name, im, err)
		}
		if dirs := im.LayerDirs(); len(dirs) != 1 || dirs[0] != LayerDir(root, "sha256:l1") {
			t.Errorf("LayerDirs = %v", dirs)
		}
	}
	for _, name := range []string{"alpine", "gone"} {
		if _, err := LookupName(root, name); !errors.Is(err, ErrNotCached) {
			t.Errorf("LookupName(%q) = %v, want ErrNotCached", name, err)
		}
	}
	if err := os.Remove(LayerDir(root, "sha256:l1")); err != nil {
		t.Fatal(err)
	}
	if _, err := LookupName(root, "busybox"); !errors.Is(err, ErrNotCached) {
		t.Errorf("LookupName with a layer missing = %v, want ErrNotCached", err)
	}
	if _, err := LookupName(t.TempDir(), "busybox"); !errors.Is(err, ErrNotCached) {
		t.Errorf("LookupName in an empty cache = %v, want ErrNotCached", err)
	}
}

package images

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nsagent/nsagent/internal/testutil"
)

// TestLookupUser resolves an image's USER from the topmost layer's
// /etc/passwd and /etc/group, never the host's, and stops at a whiteout.
func TestLookupUser(t *testing.T) {
	st := &Store{Dir: t.TempDir()}
	write := func(diffID, rel, body string) {
		p := filepath.Join(st.layerDir(diffID), rel)
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
	im := &Image{Layers: []Layer{{DiffID: "sha256:aa"}, {DiffID: "sha256:bb"}}, store: st}
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
		p := filepath.Join(st.layerDir("sha256:bb"), "etc/passwd")
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

package testutil

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// CgroupRoot is where the tests find cgroupfs, on the host and in the v2
// lane alike.
const CgroupRoot = "/sys/fs/cgroup"

// CgroupLayout is the cgroup layout a test runs on.
type CgroupLayout string

// The layouts a cgroup test may meet. This host is hybrid; the v2 lane
// (make test-v2) is unified; v1 is a host with no cgroup2 mount at all.
const (
	LayoutV1     CgroupLayout = "v1"     // v1 controllers only
	LayoutHybrid CgroupLayout = "hybrid" // v1 controllers plus a cgroup2 mount at unified/
	LayoutV2     CgroupLayout = "v2"     // the unified hierarchy only
)

// MemoryLimitFile is the file that holds a cgroup's memory limit.
func (l CgroupLayout) MemoryLimitFile() string {
	if l == LayoutV2 {
		return "memory.max"
	}
	return "memory.limit_in_bytes"
}

// OOMEventsFile is the flat keyed file whose oom_kill line counts the
// cgroup's OOM kills (memory.failcnt does not move on an OOM kill).
func (l CgroupLayout) OOMEventsFile() string {
	if l == LayoutV2 {
		return "memory.events"
	}
	return "memory.oom_control"
}

// InV2Lane reports whether the test runs inside the cgroup v2 lane's guest
// (scripts/v2lane). The lane's /init exports NSAGENT_V2LANE=1; the kernel
// command line carries it too, so a test whose environment was cleared
// still knows.
func InV2Lane() bool {
	if os.Getenv("NSAGENT_V2LANE") == "1" {
		return true
	}
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return false
	}
	for _, f := range strings.Fields(string(b)) {
		if f == "--" {
			break
		}
		if f == "NSAGENT_V2LANE=1" {
			return true
		}
	}
	return false
}

// DetectLayout tells the layout at CgroupRoot from the filesystem types
// statfs reports. It asks the kernel rather than looking at the files
// present, the way inventory.DetectCgroupMode does, so a test comparing
// the two checks the product from a second angle.
func DetectLayout() (CgroupLayout, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(CgroupRoot, &st); err != nil {
		return "", fmt.Errorf("statfs %s: %w", CgroupRoot, err)
	}
	switch st.Type {
	case unix.CGROUP2_SUPER_MAGIC:
		return LayoutV2, nil
	case unix.TMPFS_MAGIC:
		if err := unix.Statfs(filepath.Join(CgroupRoot, "unified"), &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return LayoutHybrid, nil
		}
		return LayoutV1, nil
	}
	return "", fmt.Errorf("%s is neither cgroup2 nor a tmpfs of v1 hierarchies (magic %#x)", CgroupRoot, st.Type)
}

// Layout returns the cgroup layout the test runs on. In the v2 lane it
// must be v2: anything else means the lane's guest is broken, a failure.
func Layout(t testing.TB) CgroupLayout {
	t.Helper()
	l, err := DetectLayout()
	if err != nil {
		Unavailable(t, "a cgroupfs at %s: %v", CgroupRoot, err)
	}
	if InV2Lane() && l != LayoutV2 {
		t.Fatalf("in the v2 lane but %s is %s", CgroupRoot, l)
	}
	return l
}

// RequireLayout stops a test that does not apply to the layout it runs on.
// The skip message is the one the v2 lane accepts ("applies to cgroup
// layout"); a test for something a layout lacks belongs here, a test that
// needs a component belongs with Unavailable.
func RequireLayout(t testing.TB, layouts ...CgroupLayout) CgroupLayout {
	t.Helper()
	l := Layout(t)
	for _, want := range layouts {
		if l == want {
			return l
		}
	}
	t.Skipf("applies to cgroup layout %v only, this is %s", layouts, l)
	return l
}

// TestCgroup is a cgroup a test made under an absolute parent of its own
// (/nsagent-test-*, never relative to the test's own cgroup, which on this
// host is inside the supervisor's). On v1 and hybrid it exists once per
// controller hierarchy asked for; on v2 it is one directory.
type TestCgroup struct {
	// Path is the cgroup's path from the hierarchy root, e.g.
	// /nsagent-test-TestX-1a2b3c4d.
	Path   string
	Layout CgroupLayout
	dirs   map[string]string // controller -> directory
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// NewCgroup creates a cgroup for the test with the given controllers
// (e.g. "memory", "pids") and removes it when the test ends. On v2 it
// enables the controllers in the root's cgroup.subtree_control if they
// are not (and disables again what it enabled). Processes the test put in
// it must be gone by then: register them (Start) after calling NewCgroup,
// so their clean-up runs first.
func NewCgroup(t testing.TB, controllers ...string) *TestCgroup {
	t.Helper()
	RequireRoot(t)
	l := Layout(t)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := "nsagent-test-" + unsafeName.ReplaceAllString(t.Name(), "_") + "-" + hex.EncodeToString(rnd[:])
	c := &TestCgroup{Path: "/" + name, Layout: l, dirs: map[string]string{}}
	if l == LayoutV2 {
		enableV2Controllers(t, controllers)
		dir := filepath.Join(CgroupRoot, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("create cgroup %s: %v", dir, err)
		}
		t.Cleanup(func() { removeCgroupDir(t, dir) })
		for _, ctrl := range controllers {
			c.dirs[ctrl] = dir
		}
		c.dirs[""] = dir
		return c
	}
	for _, ctrl := range controllers {
		h := filepath.Join(CgroupRoot, ctrl)
		if _, err := os.Stat(filepath.Join(h, "cgroup.procs")); err != nil {
			Unavailable(t, "the v1 %s hierarchy at %s", ctrl, h)
		}
		dir := filepath.Join(h, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("create cgroup %s: %v", dir, err)
		}
		t.Cleanup(func() { removeCgroupDir(t, dir) })
		c.dirs[ctrl] = dir
		if c.dirs[""] == "" {
			c.dirs[""] = dir
		}
	}
	return c
}

// enableV2Controllers makes the root's children get the controllers, as
// the lane's /init already does; on a v2 host that lacks one it enables it
// for the test's duration.
func enableV2Controllers(t testing.TB, controllers []string) {
	t.Helper()
	file := filepath.Join(CgroupRoot, "cgroup.subtree_control")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	have := strings.Fields(string(b))
	for _, ctrl := range controllers {
		if contains(have, ctrl) {
			continue
		}
		if err := os.WriteFile(file, []byte("+"+ctrl), 0o644); err != nil {
			Unavailable(t, "the %s controller in %s: %v", ctrl, file, err)
		}
		t.Cleanup(func() {
			// EBUSY means another cgroup uses it by now: leave it on.
			_ = os.WriteFile(file, []byte("-"+ctrl), 0o644)
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// removeCgroupDir removes a test cgroup, retrying for a second: a cgroup
// whose last process was just reaped can stay busy briefly.
func removeCgroupDir(t testing.TB, dir string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("remove cgroup %s: %v (left behind)", dir, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Dir returns the cgroup's directory in a controller's hierarchy; "" is
// the first one (on v2 all are the same directory).
func (c *TestCgroup) Dir(controller string) string {
	d, ok := c.dirs[controller]
	if !ok {
		panic(fmt.Sprintf("test cgroup %s was not created with controller %q", c.Path, controller))
	}
	return d
}

// Set writes a control file of the cgroup in a controller's hierarchy.
func (c *TestCgroup) Set(t testing.TB, controller, file, value string) {
	t.Helper()
	p := filepath.Join(c.Dir(controller), file)
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		t.Fatalf("write %q to %s: %v", value, p, err)
	}
}

// Get reads a control file of the cgroup, trimmed.
func (c *TestCgroup) Get(t testing.TB, controller, file string) string {
	t.Helper()
	p := filepath.Join(c.Dir(controller), file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(bytes.TrimSpace(b))
}

// AddProc moves a process the test started into the cgroup, in every
// hierarchy it was created in.
func (c *TestCgroup) AddProc(t testing.TB, pid int) {
	t.Helper()
	seen := map[string]bool{}
	for _, d := range c.dirs {
		if seen[d] {
			continue
		}
		seen[d] = true
		p := filepath.Join(d, "cgroup.procs")
		if err := os.WriteFile(p, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatalf("move pid %d into %s: %v", pid, p, err)
		}
	}
}

// Delegate makes the cgroup a parent for others, such as nsagent's
// cgroup parent in a launcher test: on v2 it enables the controllers for
// its children (after which it can hold no process itself); v1 needs
// nothing, each hierarchy nests on its own.
func (c *TestCgroup) Delegate(t testing.TB, controllers ...string) {
	t.Helper()
	if c.Layout != LayoutV2 {
		return
	}
	var b strings.Builder
	for i, ctrl := range controllers {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("+" + ctrl)
	}
	c.Set(t, "", "cgroup.subtree_control", b.String())
}

// OOMKills reads the oom_kill counter of the cgroup's memory controller
// straight from the kernel's file, to check what nsagent reports against.
func (c *TestCgroup) OOMKills(t testing.TB) uint64 {
	t.Helper()
	file := c.Layout.OOMEventsFile()
	for _, line := range strings.Split(c.Get(t, "memory", file), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == "oom_kill" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("parse %s line %q: %v", file, line, err)
			}
			return n
		}
	}
	t.Fatalf("%s of %s has no oom_kill line", file, c.Path)
	return 0
}

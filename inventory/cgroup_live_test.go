package inventory_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
	"github.com/nsagent/nsagent/inventory"
)

// wantMode is the inventory's name for each layout the tests tell apart.
var wantMode = map[testutil.CgroupLayout]inventory.CgroupMode{
	testutil.LayoutV1:     inventory.CgroupLegacy,
	testutil.LayoutHybrid: inventory.CgroupHybrid,
	testutil.LayoutV2:     inventory.CgroupUnified,
}

// TestReadCgroupsLive reads a cgroup the test made and filled on the live
// cgroupfs: v1 hierarchies on a hybrid or legacy host, the unified tree in
// the v2 lane (make test-v2). It runs on every layout; what differs is
// only which kernel files carry the values.
func TestReadCgroupsLive(t *testing.T) {
	testutil.RequireRoot(t)
	layout := testutil.Layout(t)
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		testutil.Unavailable(t, "busybox-static (/bin/busybox)")
	}
	cg := testutil.NewCgroup(t, "memory", "pids")
	cg.Set(t, "memory", layout.MemoryLimitFile(), "4194304")
	cg.Set(t, "pids", "pids.max", "10")
	t.Logf("layout %s, cgroup %s", layout, cg.Path)

	// A child of the test, moved in.
	sleeper := testutil.Start(t, exec.Command(bb, "sleep", "600"))
	cg.AddProc(t, sleeper.Process.Pid)

	all, g := readLiveGroup(t, cg.Path)
	if got, want := all.Mode, wantMode[layout]; got != want {
		t.Errorf("Mode = %q, want %q (layout %s)", got, want, layout)
	}
	for _, c := range []string{"memory", "pids"} {
		if !slices.Contains(g.Controllers, c) {
			t.Errorf("Controllers = %v, want %s among them", g.Controllers, c)
		}
	}
	if g.Memory == nil || g.Memory.LimitBytes == nil || *g.Memory.LimitBytes != 4194304 {
		t.Errorf("Memory.LimitBytes = %v, want 4194304 (from %s)", memLimit(g), layout.MemoryLimitFile())
	}
	if g.Pids == nil || g.Pids.Max == nil || *g.Pids.Max != 10 {
		t.Errorf("Pids = %+v, want max 10", g.Pids)
	} else if g.Pids.Current != 1 {
		t.Errorf("Pids.Current = %d, want 1 (the sleeper)", g.Pids.Current)
	}
	if g.Procs != 1 {
		t.Errorf("Procs = %d, want 1 (the sleeper)", g.Procs)
	}
	if g.Memory != nil && g.Memory.OOMKills != 0 {
		t.Errorf("OOMKills = %d before any OOM, want 0", g.Memory.OOMKills)
	}
	if len(g.Errors) > 0 {
		t.Errorf("Errors = %q, want none", g.Errors)
	}
	_ = sleeper.Process.Kill()
	_ = sleeper.Wait()

	// One allocating process, alone in the cgroup, killed by the OOM
	// killer. (A pipeline would not do: under 4 MiB its other members'
	// kernel memory can get a second process killed too.)
	status := runUntilOOM(t, cg, bb)
	if !status.Signaled() || status.Signal() != syscall.SIGKILL {
		t.Fatalf("allocating process ended with %v, want SIGKILL from the OOM killer", status)
	}
	if code := 128 + int(status.Signal()); code != 137 {
		t.Errorf("shell exit code of the OOM kill = %d, want 137", code)
	}
	// The kernel counts the kill as it sends SIGKILL; it has, by the time
	// the process is reaped. Compare with the kernel's own file too.
	if n := cg.OOMKills(t); n != 1 {
		t.Errorf("kernel %s oom_kill = %d, want 1", layout.OOMEventsFile(), n)
	}
	_, g = readLiveGroup(t, cg.Path)
	if g.Memory == nil || g.Memory.OOMKills != 1 {
		t.Errorf("Memory.OOMKills = %v, want 1", oomKills(g))
	}
	if g.Memory != nil && (g.Memory.MaxUsageBytes < 2<<20 || g.Memory.MaxUsageBytes > 4194304) {
		t.Errorf("Memory.MaxUsageBytes = %d, want between 2 MiB and the 4 MiB limit after an OOM", g.Memory.MaxUsageBytes)
	}
	if g.Procs != 0 {
		t.Errorf("Procs = %d after the OOM kill, want 0", g.Procs)
	}
}

// runUntilOOM runs busybox sh doubling a string in the cgroup until the
// OOM killer ends it, and returns how it ended. On v2 the shell is cloned
// straight into the cgroup (CLONE_INTO_CGROUP); v1 has no such clone, so
// there the shell waits on stdin until the test has moved it in.
func runUntilOOM(t *testing.T, cg *testutil.TestCgroup, bb string) syscall.WaitStatus {
	t.Helper()
	const grow = `x=0123456789abcdef; while :; do x=$x$x; done`
	var cmd *exec.Cmd
	var stdin io.WriteCloser
	if cg.Layout == testutil.LayoutV2 {
		dir, err := os.Open(cg.Dir("memory"))
		if err != nil {
			t.Fatalf("open cgroup dir: %v", err)
		}
		defer dir.Close()
		cmd = exec.Command(bb, "sh", "-c", grow)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	} else {
		cmd = exec.Command(bb, "sh", "-c", "read go; "+grow)
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Start(t, cmd)
	if stdin != nil {
		cg.AddProc(t, cmd.Process.Pid)
		if _, err := io.WriteString(stdin, "go\n"); err != nil {
			t.Fatalf("start the allocation: %v", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("allocating shell not OOM-killed within 2 minutes under a 4 MiB limit")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("allocating shell: %v, want it killed", err)
	}
	return ee.Sys().(syscall.WaitStatus)
}

// readLiveGroup reads the live cgroupfs and returns the whole tree and
// the group at path, failing the test if it is missing.
func readLiveGroup(t *testing.T, path string) (*inventory.Cgroups, *inventory.Cgroup) {
	t.Helper()
	all, err := inventory.ReadCgroups(testutil.CgroupRoot)
	if err != nil {
		t.Fatalf("ReadCgroups(%s): %v", testutil.CgroupRoot, err)
	}
	for _, g := range all.Groups {
		if g.Path == path {
			return all, g
		}
	}
	t.Fatalf("ReadCgroups(%s) has no group %s among %d", testutil.CgroupRoot, path, len(all.Groups))
	return nil, nil
}

func memLimit(g *inventory.Cgroup) any {
	if g.Memory == nil || g.Memory.LimitBytes == nil {
		return nil
	}
	return *g.Memory.LimitBytes
}

func oomKills(g *inventory.Cgroup) any {
	if g.Memory == nil {
		return nil
	}
	return g.Memory.OOMKills
}

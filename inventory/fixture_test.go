package inventory

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const fixtureCID = "3f2d5c6a1b7e4d8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f"

func fixturePaths(layout string) Paths {
	root := filepath.Join("testdata", "fixtures", layout)
	return Paths{
		Procfs:   filepath.Join(root, "proc"),
		Cgroupfs: filepath.Join(root, "cgroup"),
		Rootfs:   filepath.Join(root, "rootfs"),
		Sysfs:    filepath.Join(root, "sys"),
	}
}

func scanFixture(t *testing.T, layout string) *Snapshot {
	t.Helper()
	return scanFixtureWith(t, layout, nil)
}

// scanFixtureWith scans a fixture tree with cache (nil: none).
func scanFixtureWith(t *testing.T, layout string, cache ProcessCache) *Snapshot {
	t.Helper()
	s, err := NewScanner(Options{Paths: fixturePaths(layout), Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestScanFixtures(t *testing.T) {
	for _, layout := range []string{"v1", "hybrid", "v2"} {
		t.Run(layout, func(t *testing.T) {
			snap := scanFixture(t, layout)
			if got := len(snap.Processes); got != 10 {
				t.Errorf("processes = %d, want 10", got)
			}
			// A namespace held only by an nsfs mount: listed with no process.
			held := snap.Namespace(NSNet, 4026532400)
			if held == nil {
				t.Fatal("mount-held net namespace 4026532400 missing")
			}
			if held.NProcs() != 0 || !reflect.DeepEqual(held.Mounts, []string{"/run/netns/blue"}) || !reflect.DeepEqual(held.HeldBy(), []Holder{HeldByMount}) {
				t.Errorf("mount-held: nprocs %d mounts %v held by %v", held.NProcs(), held.Mounts, held.HeldBy())
			}
			// A namespace held only by an open fd.
			fdHeld := snap.Namespace(NSNet, 4026532410)
			if fdHeld == nil || !reflect.DeepEqual(fdHeld.FDs, []FDRef{{PID: 300, FD: 5}}) || fdHeld.NProcs() != 0 {
				t.Fatalf("fd-held namespace: %+v", fdHeld)
			}
			// The container's namespaces: two processes, lowest 201.
			ctr := snap.Namespace(NSPID, 4026532303)
			if ctr == nil || !reflect.DeepEqual(ctr.PIDs, []int{201, 202}) {
				t.Fatalf("container pid namespace: %+v", ctr)
			}
			// The zombie is a process of the tree but of no namespace.
			z := snap.Process(400)
			if z == nil || z.State != "Z" || z.NS != (NSSet{}) {
				t.Fatalf("zombie: %+v", z)
			}
			if host := snap.Namespace(NSNet, 4026531840); host == nil || host.NProcs() != 7 {
				t.Errorf("host net namespace: %+v (want 7 processes: the zombie and container left out)", host)
			}
			p := snap.Process(300)
			if p.Comm != "weird (name) x" || p.User != "alice" || p.UID != 1000 || p.Threads != 2 {
				t.Errorf("pid 300: comm %q user %q uid %d threads %d", p.Comm, p.User, p.UID, p.Threads)
			}
			if want := time.Unix(1764000000, 0).Add(12 * time.Second); !p.Started.Equal(want) {
				t.Errorf("pid 300 started %v, want %v", p.Started, want)
			}
			if !snap.Process(2).Kernel || !snap.Process(3).Kernel || snap.Process(1).Kernel {
				t.Error("kernel thread flags wrong")
			}
			if sec := snap.Process(201).Security; sec.Seccomp != 2 || sec.CapEff != 0xa80425fb || sec.SeccompFilters != 1 {
				t.Errorf("container security: %+v", sec)
			}
			wantCg := "/docker/" + fixtureCID
			if layout == "v2" {
				wantCg = "/system.slice/docker-" + fixtureCID + ".scope"
			}
			if got := snap.Process(202).CgroupPath("memory"); got != wantCg {
				t.Errorf("cgroup of 202 = %q, want %q", got, wantCg)
			}
		})
	}
}

func TestReadCgroupsFixtures(t *testing.T) {
	for _, tc := range []struct {
		layout string
		mode   CgroupMode
		path   string
	}{
		{"v1", CgroupLegacy, "/docker/" + fixtureCID},
		{"hybrid", CgroupHybrid, "/docker/" + fixtureCID},
		{"v2", CgroupUnified, "/system.slice/docker-" + fixtureCID + ".scope"},
	} {
		t.Run(tc.layout, func(t *testing.T) {
			cg, err := ReadCgroups(fixturePaths(tc.layout).Cgroupfs)
			if err != nil {
				t.Fatal(err)
			}
			if cg.Mode != tc.mode {
				t.Errorf("mode %s, want %s", cg.Mode, tc.mode)
			}
			var g *Cgroup
			seen := map[string]bool{}
			for _, x := range cg.Groups {
				if seen[x.Path] {
					t.Errorf("%s listed twice", x.Path)
				}
				seen[x.Path] = true
				if x.Path == tc.path {
					g = x
				}
				if len(x.Errors) > 0 {
					t.Errorf("%s: errors %v", x.Path, x.Errors)
				}
			}
			if g == nil {
				t.Fatalf("%s not found", tc.path)
			}
			u := func(v uint64) *uint64 { return &v }
			q := int64(50000)
			if g.Memory == nil || !reflect.DeepEqual(g.Memory.LimitBytes, u(8388608)) || !reflect.DeepEqual(g.Memory.SwapLimitBytes, u(16777216)) || g.Memory.OOMKills != 2 {
				t.Errorf("memory: %+v", g.Memory)
			}
			if g.Memory.WorkingSetBytes != 1048576-262144 {
				t.Errorf("working set %d, want usage less inactive file", g.Memory.WorkingSetBytes)
			}
			if g.Pids == nil || !reflect.DeepEqual(g.Pids.Max, u(50)) || g.Pids.Current != 3 {
				t.Errorf("pids: %+v", g.Pids)
			}
			if g.CPU == nil || !reflect.DeepEqual(g.CPU.QuotaMicros, &q) || g.CPU.PeriodMicros != 100000 || g.CPU.UsageNanos != 1500000 || g.CPU.NrThrottled != 2 || g.CPU.ThrottledNanos != 700000 {
				t.Errorf("cpu: %+v", g.CPU)
			}
			if g.Procs != 2 {
				t.Errorf("procs %d, want 2", g.Procs)
			}
			root := cg.Groups[0]
			if root.Path != "/" || root.Memory == nil || root.Memory.LimitBytes != nil {
				t.Errorf("root: %+v (want unlimited memory)", root)
			}
			if tc.layout != "v1" && root.PSI["memory"].SomeTotalMicros == 0 && tc.layout == "v2" {
				t.Errorf("root PSI missing: %+v", root.PSI)
			}
		})
	}
}

func TestBadPaths(t *testing.T) {
	if _, err := NewScanner(Options{Paths: Paths{Procfs: "/nonexistent-procfs"}}); err == nil || !strings.Contains(err.Error(), "/nonexistent-procfs") {
		t.Errorf("missing procfs: err = %v, want it to name the path", err)
	}
	dir := t.TempDir()
	if _, err := NewScanner(Options{Paths: Paths{Procfs: dir}}); !errors.Is(err, ErrNotProcfs) {
		t.Errorf("empty dir as procfs: err = %v, want ErrNotProcfs", err)
	}
	if _, err := ReadCgroups(dir); err == nil {
		t.Error("empty cgroupfs root: want error")
	}
	if _, err := ReadCgroups(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing cgroupfs root: want error")
	}
}

// TestScanChurn scans the live host while processes start and exit: the scan
// must not fail, and the processes that vanished mid-scan are only counted.
func TestScanChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("live host")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		t.Skip("no procfs")
	}
	s, err := NewScanner(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_ = exec.Command("/bin/true").Run()
		}
	}()
	for i := 0; i < 20; i++ {
		snap, err := s.Scan(context.Background())
		if err != nil {
			cancel()
			t.Fatalf("scan %d: %v", i, err)
		}
		if snap.Process(os.Getpid()) == nil {
			t.Fatalf("scan %d: own process %d missing", i, os.Getpid())
		}
	}
	cancel()
	<-done
}

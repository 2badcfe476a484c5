//go:build v2lane

// Package selftest checks the v2 lane's guest itself: that what the lane
// promises the tests (scripts/v2lane/run.sh) is there, so a broken guest
// fails as such rather than as a puzzling product failure. It builds only
// with -tags v2lane, which run.sh passes; the host's go test ./... leaves it
// out.
package selftest

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/nsagent/nsagent/internal/testutil"
)

func TestInLane(t *testing.T) {
	if !testutil.InV2Lane() {
		t.Fatal("InV2Lane() = false inside the lane")
	}
	if l := testutil.Layout(t); l != testutil.LayoutV2 {
		t.Fatalf("Layout = %s, want v2", l)
	}
	if os.Getenv("CI") != "true" {
		t.Error("CI is not true: Unavailable would skip instead of failing")
	}
}

func TestCgroup2Mount(t *testing.T) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var opts string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == testutil.CgroupRoot && strings.Contains(line, " - cgroup2 ") {
			opts = line[strings.Index(line, " - cgroup2 "):]
		}
	}
	if !strings.Contains(opts, "nsdelegate") {
		t.Errorf("cgroup2 at %s mount options %q, want nsdelegate", testutil.CgroupRoot, opts)
	}
	sc, err := os.ReadFile(testutil.CgroupRoot + "/cgroup.subtree_control")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "pids", "cpu"} {
		if !slices.Contains(strings.Fields(string(sc)), c) {
			t.Errorf("root cgroup.subtree_control = %q, want %s in it", sc, c)
		}
	}
}

// TestVeth makes a veth pair in a throwaway network namespace with the
// iproute2 ip the lane ships: it fails if veth.ko did not load. The path
// is spelled out because busybox sh runs its own applets (whose ip knows
// no veth) before searching PATH.
func TestVeth(t *testing.T) {
	ip := testutil.RequireCommand(t, "ip")
	out, err := exec.Command("unshare", "-n", "sh", "-c",
		ip+" link add lanev0 type veth peer name lanev1 && "+ip+" -o link show type veth").CombinedOutput()
	if err != nil {
		t.Fatalf("veth in a new netns: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "lanev0") || !strings.Contains(string(out), "lanev1") {
		t.Fatalf("ip link show type veth = %q, want lanev0 and lanev1", out)
	}
}

// TestPivotRoot pivots into a tmpfs in a new mount namespace, as a
// launcher does: it fails if the guest still ran from the initramfs
// rootfs, which pivot_root refuses.
func TestPivotRoot(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`set -e; mount -t tmpfs lane `+dir+`; mkdir `+dir+`/old; cp /bin/busybox `+dir+`/;
		cd `+dir+`; pivot_root . old; /busybox echo pivoted`).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pivoted") {
		t.Fatalf("pivot_root into a tmpfs: %v\n%s", err, out)
	}
}

// TestNsagentBin runs the binary the lane ships for the launcher's tests.
func TestNsagentBin(t *testing.T) {
	bin := os.Getenv("NSAGENT_BIN")
	if bin == "" {
		t.Fatal("NSAGENT_BIN is not set")
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "nsagent ") {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
}

// TestDelegate nests a cgroup under a test cgroup, as a launcher test
// does with nsagent's cgroup parent: the child must get the controllers.
func TestDelegate(t *testing.T) {
	cg := testutil.NewCgroup(t, "memory", "pids")
	cg.Delegate(t, "memory", "pids")
	child := cg.Dir("memory") + "/child"
	if err := os.Mkdir(child, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(child)
	b, err := os.ReadFile(child + "/cgroup.controllers")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "pids"} {
		if !slices.Contains(strings.Fields(string(b)), c) {
			t.Errorf("child cgroup.controllers = %q, want %s in it", b, c)
		}
	}
	if err := os.WriteFile(child+"/memory.max", []byte("4194304"), 0o644); err != nil {
		t.Errorf("set memory.max on the child: %v", err)
	}
}

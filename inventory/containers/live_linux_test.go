package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
	"github.com/nsagent/nsagent/inventory"
)

// liveDiscover scans the live host and discovers its containers.
func liveDiscover(t *testing.T) (*inventory.Snapshot, *Result) {
	t.Helper()
	sc, err := inventory.NewScanner(inventory.Options{Fields: inventory.FieldDetails | inventory.FieldSecurity | inventory.FieldCgroupRefs | inventory.FieldCgroupTree | inventory.FieldFDs | inventory.FieldMounts})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := sc.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Discover(snap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return snap, res
}

// entrantsExeced reports whether both entrants have run their commands
// (runc init and nsenter are themselves entrants until they exec).
func entrantsExeced(c *Container) bool {
	n := 0
	for _, e := range c.Entrants {
		if e.Command == "sleep 999" || e.Command == "sleep 998" {
			n++
		}
	}
	return n == 2
}

func randName(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// readCgroupFile reads a v1 controller file of a cgroup path on the live
// host (this host is hybrid: limits live in the v1 hierarchies).
func readCgroupFile(t *testing.T, controller, cg, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, cg, file))
	if err != nil {
		t.Fatalf("read cgroupfs: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// procNS reads /proc/<pid>/ns/* the way lsns does.
func procNS(t *testing.T, pid int) map[inventory.NSType]uint64 {
	t.Helper()
	out := map[inventory.NSType]uint64{}
	for _, typ := range inventory.NSTypes {
		l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + string(typ))
		if err != nil {
			continue
		}
		ino, _ := strconv.ParseUint(strings.TrimSuffix(strings.SplitN(l, "[", 2)[1], "]"), 10, 64)
		out[typ] = ino
	}
	return out
}

func TestLiveDocker(t *testing.T) {
	testutil.RequireRoot(t)
	image := testutil.DockerImage(t)
	name := "nsagent-test-ct-" + randName(t)
	id := testutil.DockerRun(t, "--label", "nsagent-test=1", "--memory", "8m", "--pids-limit", "50", "--name", name, image, "sleep", "1000")
	pid, _ := strconv.Atoi(strings.TrimSpace(testutil.Run(t, "docker", "inspect", "-f", "{{.State.Pid}}", id)))
	memAsked, _ := strconv.ParseUint(strings.TrimSpace(testutil.Run(t, "docker", "inspect", "-f", "{{.HostConfig.Memory}}", id)), 10, 64)
	pidsAsked, _ := strconv.ParseUint(strings.TrimSpace(testutil.Run(t, "docker", "inspect", "-f", "{{.HostConfig.PidsLimit}}", id)), 10, 64)
	testutil.Run(t, "docker", "exec", "-d", id, "sleep", "999")
	nsenter := testutil.Start(t, exec.Command("nsenter", "-t", strconv.Itoa(pid), "-m", "-n", "sleep", "998"))

	// docker exec -d returns before the process is started, and nsenter
	// and runc init exec their commands a moment later; wait for both.
	var snap *inventory.Snapshot
	var res *Result
	var c *Container
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		snap, res = liveDiscover(t)
		c = res.Container(id)
		if c != nil && entrantsExeced(c) || time.Now().After(deadline) {
			break
		}
	}
	if c == nil {
		t.Fatalf("container %s not listed; containers: %+v", id, res.Containers)
	}
	cg := "/docker/" + id
	memKernel, _ := strconv.ParseUint(readCgroupFile(t, "memory", cg, "memory.limit_in_bytes"), 10, 64)
	pidsKernel, _ := strconv.ParseUint(readCgroupFile(t, "pids", cg, "pids.max"), 10, 64)
	if c.Name != name || c.Runtime != RuntimeDocker || c.PID != pid || c.Cgroup != cg || c.Image != image {
		t.Errorf("container = id %s name %q runtime %s pid %d cgroup %s image %s; want %q docker %d %s %s",
			c.ID, c.Name, c.Runtime, c.PID, c.Cgroup, c.Image, name, pid, cg, image)
	}
	if c.MemoryLimitBytes == nil || *c.MemoryLimitBytes != memAsked || *c.MemoryLimitBytes != memKernel {
		t.Errorf("memory limit %v, docker inspect %d, cgroupfs %d", c.MemoryLimitBytes, memAsked, memKernel)
	}
	if c.PidsLimit == nil || *c.PidsLimit != pidsAsked || *c.PidsLimit != pidsKernel {
		t.Errorf("pids limit %v, docker inspect %d, cgroupfs %d", c.PidsLimit, pidsAsked, pidsKernel)
	}
	if want := procNS(t, pid); !mapsEqual(c.Namespaces, want) {
		t.Errorf("namespaces %v, /proc/%d/ns %v", c.Namespaces, pid, want)
	}
	if c.Security.Seccomp != 2 || c.Security.Privileged {
		t.Errorf("security = %+v, want seccomp filter and not privileged", c.Security)
	}

	// The chain: dockerd -> containerd -> shim (logically; really PID 1)
	// -> init.
	init := snap.Process(pid)
	shim := snap.Process(init.PPID)
	if shim == nil || res.Role(shim.PID) != RoleShim || c.ShimPID != shim.PID {
		t.Fatalf("init's parent %d is not the container's shim (shim_pid %d, role %s)", init.PPID, c.ShimPID, res.Role(init.PPID))
	}
	ctrd := snap.Process(res.LogicalParent(shim.PID, shim.PPID))
	if ctrd == nil || res.Role(ctrd.PID) != RoleContainerd {
		t.Fatalf("shim %d's logical parent %d is not containerd", shim.PID, res.LogicalParent(shim.PID, shim.PPID))
	}
	if res.Role(ctrd.PPID) != RoleDockerd {
		t.Errorf("containerd %d's parent %d is %s, want dockerd", ctrd.PID, ctrd.PPID, res.Role(ctrd.PPID))
	}
	if res.Role(pid) != RoleInit {
		t.Errorf("init role = %s", res.Role(pid))
	}

	// Entrants: the exec session (a shim child in the container's cgroup)
	// and the nsenter (outside it).
	vias := map[string]int{}
	for _, e := range c.Entrants {
		vias[e.Via+" "+e.Command] = e.PID
	}
	if vias["exec sleep 999"] == 0 || vias["nsenter sleep 998"] != nsenter.Process.Pid {
		t.Errorf("entrants = %+v, want exec of sleep 999 and nsenter pid %d", c.Entrants, nsenter.Process.Pid)
	}
	for _, f := range res.Findings {
		if f.ContainerID == id {
			t.Errorf("unexpected finding for the container: %+v", f)
		}
	}

	// Removed: gone from the next scan.
	testutil.Run(t, "docker", "rm", "-f", id)
	if _, res := liveDiscover(t); res.Container(id) != nil {
		t.Errorf("container %s still listed after docker rm -f", id)
	}
}

func TestLiveRunc(t *testing.T) {
	testutil.RequireRoot(t)
	runc := testutil.RequireCommand(t, "runc")
	rootfs := testutil.BusyboxRootfs(t)
	bundle := t.TempDir()
	testutil.Run(t, "cp", "-a", rootfs, filepath.Join(bundle, "rootfs"))
	cmd := exec.Command(runc, "spec")
	cmd.Dir = bundle
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v\n%s", err, out)
	}
	id := "nsagent-test-runc-" + randName(t)
	cgPath := "/" + id
	var spec map[string]any
	b, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"sleep", "1000"}
	linux := spec["linux"].(map[string]any)
	linux["cgroupsPath"] = cgPath // absolute: never under the supervisor's cgroup
	const mem = 16 << 20
	linux["resources"] = map[string]any{"memory": map[string]any{"limit": mem}, "pids": map[string]any{"limit": 20}}
	b, _ = json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	errFile, _ := os.Create(filepath.Join(t.TempDir(), "stderr"))
	defer errFile.Close()
	// No pipes: the detached container would hold them open.
	run := exec.Command(runc, "run", "-d", "--pid-file", pidFile, id)
	run.Dir, run.Stderr = bundle, errFile
	if err := run.Run(); err != nil {
		msg, _ := os.ReadFile(errFile.Name())
		t.Fatalf("runc run: %v\n%s", err, msg)
	}
	t.Cleanup(func() {
		_ = exec.Command(runc, "kill", id, "KILL").Run()
		_ = exec.Command(runc, "delete", "-f", id).Run()
		for _, ctrl := range []string{"memory", "pids", "cpu", "unified"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, cgPath)); err == nil {
				t.Errorf("cgroup %s%s left behind after runc delete", ctrl, cgPath)
			}
		}
	})
	pb, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pb)))
	var state struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(testutil.Run(t, runc, "state", id)), &state); err != nil || state.Pid != pid {
		t.Fatalf("runc state pid %d (err %v), pid file %d", state.Pid, err, pid)
	}

	_, res := liveDiscover(t)
	c := res.Container(id)
	if c == nil {
		t.Fatalf("runc container %s not listed; containers: %+v", id, res.Containers)
	}
	memKernel, _ := strconv.ParseUint(readCgroupFile(t, "memory", cgPath, "memory.limit_in_bytes"), 10, 64)
	if c.Runtime != RuntimeRunc || c.Name != id || c.PID != pid || c.Cgroup != cgPath || c.Bundle != bundle {
		t.Errorf("container = runtime %s name %q pid %d cgroup %s bundle %s; want runc %q %d %s %s", c.Runtime, c.Name, c.PID, c.Cgroup, c.Bundle, id, pid, cgPath, bundle)
	}
	if c.MemoryLimitBytes == nil || *c.MemoryLimitBytes != mem || memKernel != mem || c.PidsLimit == nil || *c.PidsLimit != 20 {
		t.Errorf("limits: memory %v (cgroupfs %d, want %d), pids %v (want 20)", c.MemoryLimitBytes, memKernel, mem, c.PidsLimit)
	}
	if want := procNS(t, pid); !mapsEqual(c.Namespaces, want) {
		t.Errorf("namespaces %v, /proc/%d/ns %v", c.Namespaces, pid, want)
	}
	if !slices.Contains(c.Sources, "runc-state") || !slices.Contains(c.Sources, "oci-bundle") {
		t.Errorf("sources = %v, want runc-state and oci-bundle", c.Sources)
	}

	testutil.Run(t, runc, "kill", id, "KILL")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil || time.Now().After(deadline) {
			break
		}
	}
	// Killed but not deleted: no longer a container, but a stale state.
	_, res = liveDiscover(t)
	if res.Container(id) != nil {
		t.Errorf("killed runc container still listed")
	}
	stale := false
	for _, f := range res.Findings {
		stale = stale || (f.Kind == "stale-runtime-state" && f.ContainerID == id)
	}
	if !stale {
		t.Errorf("no stale-runtime-state finding for the killed, undeleted container; findings %+v", res.Findings)
	}
}

func mapsEqual(a, b map[inventory.NSType]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

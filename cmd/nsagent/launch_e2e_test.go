package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
	"github.com/nsagent/nsagent/launcher"
)

// e2e runs the built nsagent binary as a user would, in a sandbox of its
// own (state dir, cgroup parent).
type e2e struct {
	t      *testing.T
	bin    string
	rootfs string
	env    *testutil.LauncherEnv
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end launcher test (root, busybox-static)")
	}
	testutil.RequireRoot(t)
	e := &e2e{t: t, bin: testutil.NSAgentBinary(t), rootfs: testutil.BusyboxRootfs(t), env: testutil.NewLauncherEnv(t)}
	t.Cleanup(func() {
		// Whatever a failing test left running goes before the sandbox.
		for _, st := range e.states() {
			_ = exec.Command(e.bin, "rm", "-f", "--state-dir", e.env.StateDir, "--cgroup-parent", e.env.CgroupParent, st.ID).Run()
		}
	})
	return e
}

func (e *e2e) run(stdin string, args ...string) testutil.Result {
	e.t.Helper()
	return testutil.RunCmd(e.t, e.env.Env(), stdin, e.bin, args...)
}

func (e *e2e) states() []*launcher.State {
	st, err := launcher.Store{Dir: e.env.StateDir}.List()
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *e2e) ps() []*launcher.State {
	e.t.Helper()
	r := e.run("", "ps", "-a", "-o", "json")
	if r.Code != 0 {
		e.t.Fatalf("ps: %d %s", r.Code, r.Stderr)
	}
	var out []*launcher.State
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		e.t.Fatalf("ps json: %v\n%s", err, r.Stdout)
	}
	return out
}

func (e *e2e) get(name string) *launcher.State {
	e.t.Helper()
	for _, st := range e.ps() {
		if st.Name == name {
			return st
		}
	}
	e.t.Fatalf("no workload %s in ps", name)
	return nil
}

// cgroupFile reads a file of the workload's cgroup from the host side: in
// the controller's hierarchy on v1 and hybrid hosts, in the unified one on
// v2 (ctrl is then ignored).
func (e *e2e) cgroupFile(st *launcher.State, ctrl, file string) string {
	e.t.Helper()
	dir := filepath.Join(e.env.CgroupRoot, ctrl, st.CgroupPath)
	if testutil.Layout(e.t) == testutil.LayoutV2 {
		dir = filepath.Join(e.env.CgroupRoot, st.CgroupPath)
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// assertClean checks that nothing of a workload is left: no state entry,
// no cgroup under the sandbox's parent but the parent itself.
func (e *e2e) assertClean() {
	e.t.Helper()
	for _, d := range e.env.CgroupDirs() {
		if filepath.Base(d) != filepath.Base(e.env.CgroupParent) {
			e.t.Errorf("cgroup left behind: %s", d)
		}
	}
	ents, _ := os.ReadDir(e.env.StateDir)
	for _, ent := range ents {
		if ent.IsDir() && ent.Name() != "cache" {
			e.t.Errorf("state left behind: %s", ent.Name())
		}
	}
	if m := testutil.MountsMentioning(e.t, e.rootfs, e.env.StateDir); len(m) > 0 {
		e.t.Errorf("mounts left behind on the host:\n%s", strings.Join(m, "\n"))
	}
}

func TestLaunchIsolation(t *testing.T) {
	e := newE2E(t)
	r := e.run("", "launch", "--rm", "--net", "none", "--hostname", "box", e.rootfs, "sh", "-c",
		"ps -o pid,comm; echo host=$(hostname); cat /proc/self/cgroup; ip -o link; cat /etc/hostname; ls /dev")
	if r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	// ps: a header, PID 1 the shell, then ps itself; nothing of the host.
	if !strings.HasPrefix(strings.TrimSpace(lines[1]), "1 ") {
		t.Errorf("first process is not PID 1:\n%s", r.Stdout)
	}
	var procs int
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) == 2 {
			if _, err := strconv.Atoi(f[0]); err == nil {
				procs++
			}
		}
	}
	if procs < 2 || procs > 3 {
		t.Errorf("ps saw %d processes, want the workload's 2 (sh, ps):\n%s", procs, r.Stdout)
	}
	ownCgroup := []string{"memory:/\n", "pids:/\n"} // the workload's cgroup is its namespace's root
	if testutil.Layout(t) == testutil.LayoutV2 {
		ownCgroup = []string{"0::/\n"}
	}
	for _, want := range append(ownCgroup, "host=box\n", "lo: <LOOPBACK,UP,LOWER_UP>", "box\n", "ptmx", "urandom", "shm") {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Count(r.Stdout, "link/") != 1 {
		t.Errorf("--net none: want only lo:\n%s", r.Stdout)
	}
	e.assertClean()
}

// TestLaunchLimitsHostSide starts a detached workload with limits and
// reads them from the host's cgroupfs; the workload's /proc/self/cgroup
// shows the root of its cgroup namespace, which is that cgroup.
func TestLaunchLimitsHostSide(t *testing.T) {
	e := newE2E(t)
	layout := testutil.Layout(t)
	r := e.run("", "launch", "-d", "--name", "lim", "--mem", "4M", "--cpus", "0.5", "--pids", "10", e.rootfs, "sleep", "1000")
	if r.Code != 0 {
		t.Fatalf("launch -d: %d %s", r.Code, r.Stderr)
	}
	st := e.get("lim")
	if st.Status != launcher.StatusRunning {
		t.Fatalf("status %s, want running", st.Status)
	}
	want := []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", "4194304"},
		{"memory", "memory.memsw.limit_in_bytes", "8388608"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"pids", "pids.max", "10"},
	}
	if layout == testutil.LayoutV2 {
		// v2 counts swap apart from memory: --memory-swap 8M is 4M of swap.
		want = []struct{ ctrl, file, want string }{
			{"", "memory.max", "4194304"},
			{"", "memory.swap.max", "4194304"},
			{"", "cpu.max", "50000 100000"},
			{"", "pids.max", "10"},
		}
	}
	for _, c := range want {
		if got := e.cgroupFile(st, c.ctrl, c.file); got != c.want {
			t.Errorf("%s/%s = %s, want %s", c.ctrl, c.file, got, c.want)
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	wantLine := ":memory:" + st.CgroupPath + "\n"
	if layout == testutil.LayoutV2 {
		wantLine = "0::" + st.CgroupPath + "\n"
	}
	if !strings.Contains(string(b), wantLine) {
		t.Errorf("host /proc/%d/cgroup lacks %q:\n%s", st.Pid, wantLine, b)
	}
	if got := e.cgroupFile(st, "memory", "cgroup.procs"); got != strconv.Itoa(st.Pid) {
		t.Errorf("memory cgroup.procs = %q, want the init %d alone", got, st.Pid)
	}
	usageFile, selfLine := "memory.usage_in_bytes", "memory:/\n"
	if layout == testutil.LayoutV2 {
		usageFile, selfLine = "memory.current", "0::/\n"
	}
	usage, _ := strconv.Atoi(e.cgroupFile(st, "memory", usageFile))
	t.Logf("memory charged to the --mem 4M workload right after start: %d bytes (cgroup layout %s)", usage, layout)
	if r := e.run("", "exec", "lim", "cat", "/proc/self/cgroup"); !strings.Contains(r.Stdout, selfLine) {
		t.Errorf("exec: /proc/self/cgroup in the workload:\n%s %s", r.Stdout, r.Stderr)
	}
	if r := e.run("", "rm", "-f", "lim"); r.Code != 0 {
		t.Fatalf("rm -f: %d %s", r.Code, r.Stderr)
	}
	e.assertClean()
}

// TestLaunchInteractiveUnder4M runs an interactive busybox sh under a 4
// MiB limit (docker refuses below 6M): the init's memory is not charged
// to the workload.
func TestLaunchInteractiveUnder4M(t *testing.T) {
	e := newE2E(t)
	r := e.run("echo hello from $(hostname)\nls /bin | wc -l\nexit 3\n", "launch", "--rm", "--mem", "4M", "--hostname", "tiny", e.rootfs, "sh")
	if r.Code != 3 || !strings.Contains(r.Stdout, "hello from tiny") {
		t.Fatalf("got %d %q %q, want 3 and the greeting", r.Code, r.Stdout, r.Stderr)
	}
	e.assertClean()
}

func TestLaunchOOMKilled(t *testing.T) {
	e := newE2E(t)
	r := e.run("", "launch", "--name", "hog", "--mem", "4M", e.rootfs, "sh", "-c", `x=aaaaaaaa; while :; do x="$x$x"; done`)
	if r.Code != launcher.ExitOOM {
		t.Errorf("exit %d, want 137", r.Code)
	}
	if !strings.Contains(r.Stderr, "OOM-killed") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Errorf("stderr %q, want one line saying OOM-killed", r.Stderr)
	}
	st := e.get("hog")
	if !st.OOMKilled || st.ExitCode != 137 || st.Status != launcher.StatusExited {
		t.Errorf("ps: oom_killed=%v exit=%d status=%s, want true 137 exited", st.OOMKilled, st.ExitCode, st.Status)
	}
	if r := e.run("", "ps", "-a"); !strings.Contains(r.Stdout, "OOMKilled") {
		t.Errorf("ps -a does not say OOMKilled:\n%s", r.Stdout)
	}
	if r := e.run("", "rm", "hog"); r.Code != 0 {
		t.Errorf("rm: %d %s", r.Code, r.Stderr)
	}
	e.assertClean()
}

func TestLaunchPidsStopsForkLoop(t *testing.T) {
	e := newE2E(t)
	r := e.run("", "launch", "--rm", "--pids", "10", e.rootfs, "sh", "-c",
		`n=0; while [ $n -lt 50 ]; do sleep 30 & n=$((n+1)); done; echo forked $n`)
	if r.Code == 0 || !strings.Contains(r.Stderr, "can't fork") {
		t.Errorf("fork loop under --pids 10: exit %d, stdout %q stderr %q; want a failed fork", r.Code, r.Stdout, r.Stderr)
	}
	e.assertClean()
}

func TestLaunchExitStatuses(t *testing.T) {
	e := newE2E(t)
	if r := e.run("", "launch", "-d", "--name", "taken", e.rootfs, "sleep", "1000"); r.Code != 0 {
		t.Fatalf("launch -d: %d %s", r.Code, r.Stderr)
	}
	before := e.states()
	for _, c := range []struct {
		name    string
		args    []string
		code    int
		message string // in the one-line message
	}{
		{"own status", []string{e.rootfs, "sh", "-c", "exit 7"}, 7, ""},
		{"bad memory value", []string{"--mem", "4x", e.rootfs, "true"}, 125, `"4x"`},
		{"bad cpus value", []string{"--cpus", "-1", e.rootfs, "true"}, 125, "--cpus"},
		{"unknown flag", []string{"--frobnicate", e.rootfs, "true"}, 125, "frobnicate"},
		{"missing rootfs", []string{"/nonexistent/rootfs", "true"}, 125, "/nonexistent/rootfs"},
		{"name in use", []string{"--name", "taken", e.rootfs, "true"}, 125, `"taken"`},
		{"not executable", []string{e.rootfs, "/etc/passwd"}, 126, "/etc/passwd"},
		{"a directory", []string{e.rootfs, "/etc"}, 126, "/etc"},
		{"not found by path", []string{e.rootfs, "/bin/nope"}, 127, "/bin/nope"},
		{"not found in PATH", []string{e.rootfs, "nope"}, 127, "nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.run("", append([]string{"launch", "--rm"}, c.args...)...)
			if r.Code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.Code, c.code, r.Stderr)
			}
			if c.message != "" {
				msg := strings.TrimSpace(r.Stderr)
				if strings.Contains(msg, "\n") || !strings.Contains(msg, c.message) || !strings.HasPrefix(msg, "nsagent launch: ") {
					t.Errorf("stderr %q, want one line naming %s", r.Stderr, c.message)
				}
			}
			if got := e.states(); len(got) != len(before) {
				t.Errorf("%d workloads recorded, want %d", len(got), len(before))
			}
			if n := len(e.env.CgroupDirs()); n != 2*len(hierarchiesOf(e)) && n != len(hierarchiesOf(e)) {
				t.Errorf("cgroups now: %v", e.env.CgroupDirs())
			}
		})
	}
	if r := e.run("", "rm", "-f", "taken"); r.Code != 0 {
		t.Fatalf("rm -f: %d %s", r.Code, r.Stderr)
	}
	e.assertClean()
}

// hierarchiesOf lists the hierarchies the sandbox's parent exists in.
func hierarchiesOf(e *e2e) []string {
	var out []string
	for _, d := range e.env.CgroupDirs() {
		if filepath.Base(d) == filepath.Base(e.env.CgroupParent) {
			out = append(out, d)
		}
	}
	return out
}

func TestLaunchSignalForwarded(t *testing.T) {
	e := newE2E(t)
	cmd := exec.Command(e.bin, "launch", "--rm", e.rootfs, "sh", "-c", `trap "exit 9" TERM; echo ready; while :; do sleep 0.05; done`)
	cmd.Env = e.env.Env()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	testutil.Start(t, cmd)
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 9 {
		t.Errorf("exit %d (%v), want 9 from the workload's TERM trap", code, err)
	}
	e.assertClean()
}

func TestLaunchKilledBySignal(t *testing.T) {
	e := newE2E(t)
	cmd := exec.Command(e.bin, "launch", "--name", "victim", e.rootfs, "sleep", "1000")
	cmd.Env = e.env.Env()
	testutil.Start(t, cmd)
	waitFor(t, func() bool { st := e.states(); return len(st) == 1 && st[0].Status == launcher.StatusRunning })
	if r := e.run("", "kill", "-s", "KILL", "victim"); r.Code != 0 {
		t.Fatalf("kill: %d %s", r.Code, r.Stderr)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 137 {
		t.Errorf("exit %d, want 137 (128+SIGKILL)", code)
	}
	st := e.get("victim")
	if st.Status != launcher.StatusExited || st.ExitCode != 137 || st.OOMKilled {
		t.Errorf("ps: %s %d oom=%v, want exited 137 not OOM", st.Status, st.ExitCode, st.OOMKilled)
	}
	if r := e.run("", "rm", "victim"); r.Code != 0 {
		t.Errorf("rm: %d %s", r.Code, r.Stderr)
	}
	e.assertClean()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}

func TestExecPsKillRm(t *testing.T) {
	e := newE2E(t)
	r := e.run("", "launch", "-d", "--name", "svc", "--hostname", "svc-host", e.rootfs, "sh", "-c", "echo started; exec sleep 1000")
	if r.Code != 0 {
		t.Fatalf("launch -d: %d %s", r.Code, r.Stderr)
	}
	id := strings.TrimSpace(r.Stdout)
	st := e.get("svc")
	if st.ID != id || st.Status != launcher.StatusRunning || !st.Detached {
		t.Fatalf("ps: %+v, want running detached %s", st, id)
	}
	hostPidNS, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", st.Pid))
	r = e.run("", "exec", "svc", "sh", "-c", "hostname; readlink /proc/self/ns/pid; ps -o pid,comm")
	if r.Code != 0 {
		t.Fatalf("exec: %d %s", r.Code, r.Stderr)
	}
	lines := strings.Split(r.Stdout, "\n")
	if lines[0] != "svc-host" || lines[1] != hostPidNS {
		t.Errorf("exec sees hostname %q pid ns %q, want svc-host %s", lines[0], lines[1], hostPidNS)
	}
	if !strings.Contains(r.Stdout, "    1 sleep") {
		t.Errorf("exec's ps does not show the workload's PID 1:\n%s", r.Stdout)
	}
	if r := e.run("", "exec", "svc", "sh", "-c", "exit 4"); r.Code != 4 {
		t.Errorf("exec status %d, want 4", r.Code)
	}
	if r := e.run("", "exec", "svc", "nope"); r.Code != 127 {
		t.Errorf("exec of a missing command: %d, want 127", r.Code)
	}
	if r := e.run("", "logs", "svc"); r.Stdout != "started\n" {
		t.Errorf("logs: %q", r.Stdout)
	}
	if r := e.run("", "rm", "svc"); r.Code == 0 || !strings.Contains(r.Stderr, "running") {
		t.Errorf("rm of a running workload: %d %q, want a refusal", r.Code, r.Stderr)
	}
	if r := e.run("", "ps"); !strings.Contains(r.Stdout, "svc") {
		t.Errorf("ps lacks svc:\n%s", r.Stdout)
	}
	if r := e.run("", "kill", "svc"); r.Code != 0 {
		t.Fatalf("kill: %d %s", r.Code, r.Stderr)
	}
	waitFor(t, func() bool { return e.get("svc").Status == launcher.StatusExited })
	if st := e.get("svc"); st.ExitCode != 137 {
		t.Errorf("exit code %d after kill, want 137", st.ExitCode)
	}
	if r := e.run("", "ps"); strings.Contains(r.Stdout, "svc") {
		t.Errorf("ps (without -a) still lists svc:\n%s", r.Stdout)
	}
	if r := e.run("", "exec", "svc", "true"); r.Code != 125 {
		t.Errorf("exec into an exited workload: %d, want 125", r.Code)
	}
	if r := e.run("", "rm", "svc"); r.Code != 0 {
		t.Fatalf("rm: %d %s", r.Code, r.Stderr)
	}
	if len(e.ps()) != 0 {
		t.Errorf("ps -a after rm: %v", e.ps())
	}
	e.assertClean()
}

// TestGCAfterLauncherKilled kill -9s a foreground launcher: its workload
// dies with it (parent-death signal), and gc removes what was left, so
// the host's cgroups, mounts and state directory are as before.
func TestGCAfterLauncherKilled(t *testing.T) {
	e := newE2E(t)
	// A first launch makes the state dir's lock file and the cgroup parent.
	if r := e.run("", "launch", "--rm", e.rootfs, "true"); r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	if r := e.run("", "gc"); r.Code != 0 {
		t.Fatalf("gc: %d %s", r.Code, r.Stderr)
	}
	cgBefore, stateBefore := e.env.CgroupDirs(), e.env.StateEntries()
	mountsBefore := testutil.MountsMentioning(t, e.rootfs, e.env.StateDir, e.env.CgroupParent)

	cmd := exec.Command(e.bin, "launch", "--name", "orphan", "--mem", "8M", e.rootfs, "sleep", "1000")
	cmd.Env = e.env.Env()
	testutil.Start(t, cmd)
	waitFor(t, func() bool { st := e.states(); return len(st) == 1 && st[0].Status == launcher.StatusRunning })
	st := e.states()[0]
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitFor(t, func() bool { return !st.Alive() })
	if got := e.get("orphan").Status; got != launcher.StatusDead {
		t.Errorf("ps after the launcher's death: %s, want dead", got)
	}
	if len(e.env.CgroupDirs()) == len(cgBefore) {
		t.Fatalf("the killed launcher left no cgroup: the test proves nothing")
	}
	r := e.run("", "gc")
	if r.Code != 0 || !strings.Contains(r.Stdout, st.ID) {
		t.Fatalf("gc: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if got := e.env.CgroupDirs(); !reflect.DeepEqual(got, cgBefore) {
		t.Errorf("cgroups after gc:\n%v\nbefore:\n%v", got, cgBefore)
	}
	if got := e.env.StateEntries(); !reflect.DeepEqual(got, stateBefore) {
		t.Errorf("state dir after gc:\n%v\nbefore:\n%v", got, stateBefore)
	}
	if got := testutil.MountsMentioning(t, e.rootfs, e.env.StateDir, e.env.CgroupParent); !reflect.DeepEqual(got, mountsBefore) {
		t.Errorf("mounts after gc:\n%v\nbefore:\n%v", got, mountsBefore)
	}
}

func TestLaunchMountsUserEnv(t *testing.T) {
	e := newE2E(t)
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "hello"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o777); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "conf")
	if err := os.WriteFile(file, []byte("conf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("", "launch", "--rm", "--read-only", "-v", data+":/data", "-v", file+":/etc/conf:ro",
		"-w", "/data", "-e", "FOO=bar", "--user", "1000:1001", e.rootfs, "sh", "-c",
		`id -u; id -g; pwd; echo $FOO; cat hello /etc/conf; touch /x 2>/dev/null && echo root-writable; touch /data/new && echo data-writable; echo x >/etc/conf 2>/dev/null && echo conf-writable; true`)
	if r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	want := "1000\n1001\n/data\nbar\nhi\nconf\ndata-writable\n"
	if r.Stdout != want {
		t.Errorf("got\n%s\nwant\n%s", r.Stdout, want)
	}
	if fi, err := os.Stat(filepath.Join(data, "new")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Errorf("file made through the volume: %v", err)
	}
	e.assertClean()
}

func TestLaunchHostNamespaces(t *testing.T) {
	e := newE2E(t)
	self, _ := os.Readlink("/proc/self/ns/net")
	selfPid, _ := os.Readlink("/proc/self/ns/pid")
	r := e.run("", "launch", "--rm", "--net", "host", "--pid", "host", e.rootfs, "sh", "-c", "readlink /proc/self/ns/net; readlink /proc/self/ns/pid")
	if r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	if want := self + "\n" + selfPid + "\n"; r.Stdout != want {
		t.Errorf("got %q, want the host's %q", r.Stdout, want)
	}
	e.assertClean()
}

// TestLaunchDockerExportTarball launches a tarball written by docker
// export from a container of a locally imported image, twice: the second
// launch reuses the unpacked cache.
func TestLaunchDockerExportTarball(t *testing.T) {
	e := newE2E(t)
	image := testutil.DockerImage(t)
	out := testutil.Run(t, "docker", "create", "--label", "nsagent-test", image, "true")
	id := strings.TrimSpace(out)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	tarball := filepath.Join(t.TempDir(), "export.tar")
	testutil.Run(t, "docker", "export", "-o", tarball, id)
	for i := 0; i < 2; i++ {
		r := e.run("", "launch", "--rm", "--mem", "16M", tarball, "sh", "-c", "test -x /bin/busybox && test -f /.dockerenv && echo ok $(hostname)")
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, "ok ") {
			t.Fatalf("launch of the export: %d %q %q", r.Code, r.Stdout, r.Stderr)
		}
	}
	ents, err := os.ReadDir(filepath.Join(e.env.StateDir, "cache", "rootfs"))
	if err != nil || len(ents) != 1 {
		t.Errorf("rootfs cache: %v %v, want one unpacking", ents, err)
	}
	e.assertClean()
}

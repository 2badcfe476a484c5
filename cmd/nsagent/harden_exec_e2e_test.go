package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsagent/nsagent/internal/testutil"
)

// runWithFiles runs nsagent with extra inherited fds (3, 4, 5, ... in the
// child, none of them close-on-exec there): what a careless caller, or a
// runtime leaking fds, hands the launcher.
func (e *e2e) runWithFiles(files []*os.File, args ...string) testutil.Result {
	e.t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.env.Env()
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.ExtraFiles = files
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run nsagent: %v", err)
	}
	return testutil.Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// hostSecret is a host directory holding a file whose checksum the tests
// compare before and after an attack on it.
func hostSecret(t *testing.T) (dir, file, before string) {
	dir = t.TempDir()
	file = filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file, sum(t, file)
}

// TestHardenExecConfined: a command run by `nsagent exec` gets the
// workload's confinement (capabilities, no_new_privs, seccomp), as runc
// exec gives it, and not the unconfined root of the caller.
func TestHardenExecConfined(t *testing.T) {
	e := newE2E(t)
	if r := e.run("", "launch", "-d", "--name", "conf", e.rootfs, "sleep", "60"); r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	defer e.run("", "rm", "-f", "conf")
	r := e.run("", "exec", "conf", "cat", "/proc/self/status")
	if r.Code != 0 {
		t.Fatalf("exec: %d %s", r.Code, r.Stderr)
	}
	for _, want := range []string{
		"Seccomp:\t2\n", "NoNewPrivs:\t1\n", "CapEff:\t00000000a80425fb\n", "CapPrm:\t00000000a80425fb\n",
		"CapBnd:\t00000000a80425fb\n", "CapInh:\t0000000000000000\n", "CapAmb:\t0000000000000000\n",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("exec: no %q in:\n%s", want, r.Stdout)
		}
	}
	r = e.run("", "exec", "conf", "unshare", "-n", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Operation not permitted") {
		t.Errorf("exec unshare -n: %d %q, want a failure with Operation not permitted", r.Code, r.Stderr)
	}
	// A non-root user gets no capabilities at all.
	r = e.run("", "exec", "-u", "1000:1000", "conf", "grep", "-E", "^(CapEff|CapPrm|Seccomp):", "/proc/self/status")
	if r.Code != 0 || !strings.Contains(r.Stdout, "CapEff:\t0000000000000000\n") || !strings.Contains(r.Stdout, "CapPrm:\t0000000000000000\n") || !strings.Contains(r.Stdout, "Seccomp:\t2\n") {
		t.Errorf("exec -u 1000: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestHardenExecCapDrop: exec follows the workload's own set, not the
// default one.
func TestHardenExecCapDrop(t *testing.T) {
	e := newE2E(t)
	if r := e.run("", "launch", "-d", "--name", "capd", "--cap-drop", "ALL", "--cap-add", "net_admin", e.rootfs, "sleep", "60"); r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	defer e.run("", "rm", "-f", "capd")
	r := e.run("", "exec", "capd", "grep", "-E", "^Cap(Eff|Bnd):", "/proc/self/status")
	if r.Code != 0 || !strings.Contains(r.Stdout, "CapEff:\t0000000000001000\n") || !strings.Contains(r.Stdout, "CapBnd:\t0000000000001000\n") {
		t.Errorf("exec in --cap-drop ALL --cap-add net_admin: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestHardenExecSeccompDenies: the workload's own profile applies to an
// exec'd command: a profile refusing mkdir refuses it in exec too.
func TestHardenExecSeccompDenies(t *testing.T) {
	e := newE2E(t)
	prof := filepath.Join(t.TempDir(), "nomkdir.json")
	if err := os.WriteFile(prof, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.run("", "launch", "-d", "--name", "nomk", "--seccomp", prof, e.rootfs, "sleep", "60"); r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	defer e.run("", "rm", "-f", "nomk")
	r := e.run("", "exec", "nomk", "mkdir", "/tmp/x")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Operation not permitted") {
		t.Errorf("exec mkdir under a profile refusing it: %d %q", r.Code, r.Stderr)
	}
}

// TestHardenInheritedFds attacks with a host directory fd the launcher
// inherited without close-on-exec (CVE-2016-9962, CVE-2024-21626): it
// must not reach the workload, neither at launch nor through exec, nor
// serve as a working directory; the host file behind it is unchanged.
func TestHardenInheritedFds(t *testing.T) {
	e := newE2E(t)
	dir, file, before := hostSecret(t)
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	files := []*os.File{null, null, d} // the host directory is fd 5
	attack := `echo fds: $(ls /proc/self/fd); echo pwned > /proc/self/fd/5/secret; cd /proc/self/fd/5 && echo pwned > secret; echo cwd: $(pwd)`
	r := e.runWithFiles(files, "launch", "--rm", e.rootfs, "sh", "-c", attack)
	if !strings.Contains(r.Stdout, "fds: 0 1 2 3\n") {
		t.Errorf("launch: inherited fds reach the workload: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := e.run("", "launch", "-d", "--name", "fds", e.rootfs, "sleep", "60"); r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	defer e.run("", "rm", "-f", "fds")
	r = e.runWithFiles(files, "exec", "fds", "sh", "-c", attack)
	if !strings.Contains(r.Stdout, "fds: 0 1 2 3\n") {
		t.Errorf("exec: inherited fds reach the command: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	// The fd as a working directory: refused, not run in the host's tree.
	r = e.runWithFiles(files, "exec", "-w", "/proc/self/fd/5", "fds", "sh", "-c", "echo pwned > secret; pwd")
	if r.Code != 125 || strings.Contains(r.Stdout, "/") {
		t.Errorf("exec -w /proc/self/fd/5: %d %q %q, want 125", r.Code, r.Stdout, r.Stderr)
	}
	r = e.runWithFiles(files, "launch", "--rm", "-w", "/proc/self/fd/5", e.rootfs, "sh", "-c", "echo pwned > secret; pwd")
	if r.Code != 125 || strings.Contains(r.Stdout, "/") {
		t.Errorf("launch -w /proc/self/fd/5: %d %q %q, want 125", r.Code, r.Stdout, r.Stderr)
	}
	if got := sum(t, file); got != before {
		t.Fatalf("host file %s changed", file)
	}
}

// TestHardenCwdInsideRoot: the caller's host working directory is not
// the workload's, and a relative escape resolves inside the root.
func TestHardenCwdInsideRoot(t *testing.T) {
	e := newE2E(t)
	dir, file, before := hostSecret(t)
	run := func(args ...string) testutil.Result {
		var out, errb bytes.Buffer
		cmd := exec.Command(e.bin, args...)
		cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = e.env.Env(), dir, &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return testutil.Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
	}
	r := run("launch", "--rm", e.rootfs, "sh", "-c", "echo cwd=$(pwd); ls secret 2>&1; echo pwned > secret")
	if !strings.Contains(r.Stdout, "cwd=/\n") {
		t.Errorf("launch from a host directory: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	r = run("launch", "--rm", "-w", "/../../..", e.rootfs, "sh", "-c", "echo cwd=$(pwd); ls /etc/passwd >/dev/null && echo root-ok")
	if r.Code != 0 || !strings.Contains(r.Stdout, "cwd=/\n") {
		t.Errorf("launch -w /../../..: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := e.run("", "launch", "-d", "--name", "cwd", e.rootfs, "sleep", "60"); r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	defer e.run("", "rm", "-f", "cwd")
	r = run("exec", "-w", "/../../..", "cwd", "sh", "-c", "echo cwd=$(pwd); echo pwned > secret")
	if !strings.Contains(r.Stdout, "cwd=/\n") {
		t.Errorf("exec -w /../../..: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if got := sum(t, file); got != before {
		t.Fatalf("host file %s changed", file)
	}
}

// children lists the pids whose parent is pid (forked by any of its
// threads: the children file is per thread).
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// sameFile reports whether a and b are the same inode.
func sameFile(a, b string) bool {
	var x, y unix.Stat_t
	return unix.Stat(a, &x) == nil && unix.Stat(b, &y) == nil && x.Dev == y.Dev && x.Ino == y.Ino
}

// TestHardenSealedBinary attacks CVE-2019-5736: the processes nsagent
// runs in or into a workload (the init until it execve's, the exec
// helper for the command's lifetime) must not run from the host's
// binary, so that their /proc/PID/exe is no way to write it; writing
// through it fails, and the host binary is unchanged.
func TestHardenSealedBinary(t *testing.T) {
	e := newE2E(t)
	before := sum(t, e.bin)
	if r := e.run("", "launch", "-d", "--name", "seal", e.rootfs, "sleep", "60"); r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	defer e.run("", "rm", "-f", "seal")
	cmd := exec.Command(e.bin, "exec", "seal", "sleep", "5")
	cmd.Env = e.env.Env()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var helper int
	for end := time.Now().Add(5 * time.Second); helper == 0 && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		for _, c := range children(cmd.Process.Pid) {
			if len(children(c)) > 0 { // the helper, waiting for its command
				helper = c
			}
		}
	}
	if helper == 0 {
		t.Fatal("no exec helper found")
	}
	exe := fmt.Sprintf("/proc/%d/exe", helper)
	link, _ := os.Readlink(exe)
	t.Logf("exec helper %d runs %s", helper, link)
	if sameFile(exe, e.bin) {
		t.Errorf("exec helper runs from the host binary %s", link)
	}
	if f, err := os.OpenFile(exe, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		_, err = f.Write([]byte("pwned"))
		f.Close()
		if err == nil {
			t.Errorf("wrote through the exec helper's /proc/PID/exe")
		}
	}
	// From inside: every /proc/*/exe the workload sees, during an exec.
	r := e.run("", "exec", "seal", "sh", "-c", `for p in /proc/[0-9]*; do echo pwned >> $p/exe 2>/dev/null && echo wrote $p; done; true`)
	t.Logf("in-workload attempts: %d %q %s", r.Code, r.Stdout, r.Stderr)

	// The init, polled while launches set up: never the host binary.
	sealed := 0
	for i := 0; i < 5; i++ {
		l := exec.Command(e.bin, "launch", "--rm", e.rootfs, "true")
		l.Env = e.env.Env()
		if err := l.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.Wait() }()
	poll:
		for {
			select {
			case <-done:
				break poll
			default:
			}
			for _, c := range children(l.Process.Pid) {
				p := fmt.Sprintf("/proc/%d/exe", c)
				// Between fork and execve the child is still the launcher
				// (its arguments, no workload process yet to attack it).
				if args, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c)); strings.Contains(string(args), "launch\x00") {
					continue
				}
				if sameFile(p, e.bin) {
					link, _ := os.Readlink(p)
					t.Errorf("init %d runs from the host binary %s", c, link)
				} else if link, _ := os.Readlink(p); link != "" && !strings.HasSuffix(link, "busybox") && !strings.HasSuffix(link, "true") {
					sealed++
				}
			}
			time.Sleep(time.Millisecond)
		}
	}
	t.Logf("saw the init before execve running from a sealed binary %d times", sealed)
	if got := sum(t, e.bin); got != before {
		t.Fatalf("host binary %s changed", e.bin)
	}
}

// TestHardenFakeProcfs attacks with root filesystems whose /proc is not
// what it seems: a directory of fake files (a cap_last_cap of 0 would
// keep every capability in the bounding set, fake attr and sysctl files
// would take the launcher's writes), and symlinks to such a tree or out
// of the root. The launcher must mount and check a real procfs, write
// nothing through the fake one, and leave the host unchanged.
func TestHardenFakeProcfs(t *testing.T) {
	e := newE2E(t)
	copyRoot := func() string {
		root := filepath.Join(t.TempDir(), "rootfs")
		if out, err := exec.Command("cp", "-a", e.rootfs, root).CombinedOutput(); err != nil {
			t.Fatalf("copy rootfs: %v %s", err, out)
		}
		return root
	}
	fake := func(dir string) map[string]string {
		files := map[string]string{
			"sys/kernel/cap_last_cap": "0\n", "self/attr/exec": "fake\n", "self/attr/current": "fake\n",
			"sys/kernel/hostname": "fake\n", "kcore": "fake\n", "self/status": "CapEff:\t0000000000000000\n",
		}
		sums := map[string]string{}
		for name, body := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			sums[p] = sum(t, p)
		}
		return sums
	}
	hostBefore := sum(t, "/etc/passwd")
	tmp := filepath.Join(os.TempDir(), "TestHardenFakeProcfs") // this test's and its subtests' t.TempDirs
	mountsBefore := hostMounts(t, tmp)

	// A fake tree in /proc itself: covered by a real procfs.
	root := copyRoot()
	_ = os.RemoveAll(filepath.Join(root, "proc"))
	sums := fake(filepath.Join(root, "proc"))
	r := e.run("", "launch", "--rm", root, "sh", "-c", "grep -E '^(CapBnd|Seccomp):' /proc/self/status; cat /proc/sys/kernel/cap_last_cap; cat /proc/self/attr/current 2>&1 | head -c 20; echo; echo x > /proc/sys/kernel/hostname; echo hostname-write=$?")
	if r.Code != 0 || !strings.Contains(r.Stdout, "CapBnd:\t00000000a80425fb\n") || !strings.Contains(r.Stdout, "Seccomp:\t2\n") || strings.Contains(r.Stdout, "fake") || !strings.Contains(r.Stdout, "hostname-write=1\n") {
		t.Errorf("fake /proc tree: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	last, _ := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if !strings.Contains(r.Stdout, "\n"+string(last)) {
		t.Errorf("cap_last_cap in the workload is not the kernel's %q: %q", last, r.Stdout)
	}
	for p, s := range sums {
		if sum(t, p) != s {
			t.Errorf("fake file %s was written", p)
		}
	}

	// /proc a symlink: to a fake tree in the root, or out of it.
	for name, target := range map[string]string{"to a fake tree": "fakeproc", "absolute to a fake tree": "/fakeproc", "out of the root": "/etc", "up and out": "../../../../../../../etc"} {
		t.Run(name, func(t *testing.T) {
			root := copyRoot()
			sums := fake(filepath.Join(root, "fakeproc"))
			_ = os.RemoveAll(filepath.Join(root, "proc"))
			if err := os.Symlink(target, filepath.Join(root, "proc")); err != nil {
				t.Fatal(err)
			}
			r := e.run("", "launch", "--rm", root, "sh", "-c", "cat /proc/sys/kernel/cap_last_cap; echo ran")
			if r.Code != 125 || !strings.Contains(r.Stderr, "/proc is a symlink") {
				t.Errorf("/proc -> %s: %d %q %q, want 125 naming the symlink", target, r.Code, r.Stdout, r.Stderr)
			}
			for p, s := range sums {
				if sum(t, p) != s {
					t.Errorf("fake file %s was written", p)
				}
			}
			e.assertClean()
		})
	}
	// A volume over /proc: the procfs check refuses the fake tree.
	t.Run("volume over /proc", func(t *testing.T) {
		dir := t.TempDir()
		sums := fake(dir)
		r := e.run("", "launch", "--rm", "-v", dir+":/proc", e.rootfs, "sh", "-c", "echo ran")
		if r.Code != 125 || !strings.Contains(r.Stderr, "/proc is not procfs") {
			t.Errorf("-v DIR:/proc: %d %q %q, want 125 and /proc is not procfs", r.Code, r.Stdout, r.Stderr)
		}
		for p, s := range sums {
			if sum(t, p) != s {
				t.Errorf("host file %s was written", p)
			}
		}
		e.assertClean()
	})
	if sum(t, "/etc/passwd") != hostBefore {
		t.Fatal("host /etc/passwd changed")
	}
	if mountsAfter := hostMounts(t, tmp); !slices.Equal(mountsAfter, mountsBefore) {
		t.Errorf("host mount table changed:\nbefore %q\nafter  %q", mountsBefore, mountsAfter)
	}
	e.assertClean()
}

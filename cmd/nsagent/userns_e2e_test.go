package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// usernsRootfs copies the busybox root filesystem to a directory the
// workload's mapped root (host 100000) owns and can reach.
func usernsRootfs(t *testing.T, e *e2e) string {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir's directories are 0700: the init, already host user
	// 100000, must search them to bind the root filesystem.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(dir, "rootfs")
	if out, err := exec.Command("cp", "-a", e.rootfs, root).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v %s", err, out)
	}
	if out, err := exec.Command("chown", "-R", "100000:100000", root).CombinedOutput(); err != nil {
		t.Fatalf("chown rootfs: %v %s", err, out)
	}
	return root
}

func TestLaunchUserns(t *testing.T) {
	e := newE2E(t)
	root := usernsRootfs(t, e)
	r := e.run("", "launch", "-d", "--name", "us", "--userns=100000:65536", root, "sh", "-c",
		"id -u; cat /proc/self/uid_map; touch /made-inside; sleep 60")
	if r.Code != 0 {
		t.Fatalf("launch --userns: %d %s", r.Code, r.Stderr)
	}
	st := e.get("us")
	var host syscall.Stat_t
	waitFor(t, func() bool { return syscall.Stat(filepath.Join(root, "made-inside"), &host) == nil })
	if host.Uid != 100000 || host.Gid != 100000 {
		t.Errorf("file made by the workload's root is %d:%d on the host, want 100000:100000", host.Uid, host.Gid)
	}
	// From the host the workload's root is the unprivileged 100000.
	status, err := os.ReadFile(filepath.Join("/proc", itoa(st.Pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "Uid:\t100000\t100000\t100000\t100000") {
		t.Errorf("host view of the workload's uid:\n%s", status)
	}
	logs := e.run("", "logs", "us")
	if f := strings.Fields(logs.Stdout); len(f) < 4 || f[0] != "0" || f[1] != "0" || f[2] != "100000" || f[3] != "65536" {
		t.Errorf("inside: id -u and uid_map = %q, want 0 and 0 100000 65536", logs.Stdout)
	}
	x := e.run("", "exec", "us", "sh", "-c", "id -u; cat /proc/self/uid_map")
	if f := strings.Fields(x.Stdout); x.Code != 0 || len(f) < 4 || f[0] != "0" || f[2] != "100000" {
		t.Errorf("exec in the user namespace: %d %q %s", x.Code, x.Stdout, x.Stderr)
	}
	if r := e.run("", "rm", "-f", "us"); r.Code != 0 {
		t.Errorf("rm: %d %s", r.Code, r.Stderr)
	}
	e.assertClean()
}

func TestLaunchUsernsRootfsNotShifted(t *testing.T) {
	e := newE2E(t)
	r := e.run("", "launch", "--rm", "--userns", e.rootfs, "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "is owned by 0:0, not by the workload's root 100000:100000") {
		t.Errorf("launch --userns of a root-owned tree: %d %s", r.Code, r.Stderr)
	}
	e.assertClean()
}

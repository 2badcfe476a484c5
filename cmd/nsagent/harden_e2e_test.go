package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", rel)
}

func TestDefaultConfinement(t *testing.T) {
	e := newE2E(t)
	r := e.run("", "launch", "--rm", e.rootfs, "sh", "-c", `
grep -E '^(Seccomp|NoNewPrivs|CapEff|CapInh|CapAmb):' /proc/self/status
unshare -n true 2>&1; echo unshare=$?
for f in /proc/kcore /proc/keys /proc/timer_list; do [ -e $f ] && echo "$f bytes=$(cat $f | wc -c)"; done
echo x 2>&1 > /proc/sys/kernel/hostname; echo hostname-write=$?
echo fds: $(ls /proc/self/fd)`)
	if r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	for _, want := range []string{
		"Seccomp:\t2\n", "NoNewPrivs:\t1\n", "CapEff:\t00000000a80425fb\n", "CapInh:\t0000000000000000\n", "CapAmb:\t0000000000000000\n",
		"unshare: unshare(0x40000000): Operation not permitted\nunshare=1\n",
		"/proc/keys bytes=0\n", "/proc/timer_list bytes=0\n",
		"hostname-write=1\n",
		"fds: 0 1 2 3\n", // 3 is ls's directory
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("default workload: no %q in:\n%s%s", want, r.Stdout, r.Stderr)
		}
	}
	if _, err := os.Stat("/proc/kcore"); err == nil && !strings.Contains(r.Stdout, "/proc/kcore bytes=0\n") {
		t.Errorf("/proc/kcore is not masked:\n%s", r.Stdout)
	}
}

func TestUnconfinedPrivileged(t *testing.T) {
	e := newE2E(t)
	r := e.run("", "launch", "--rm", "--seccomp", "unconfined", "--privileged", e.rootfs, "sh", "-c",
		"unshare -n true && echo unshare-ok; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status")
	if r.Code != 0 || !strings.Contains(r.Stdout, "unshare-ok\n") || !strings.Contains(r.Stdout, "Seccomp:\t0\n") || !strings.Contains(r.Stdout, "NoNewPrivs:\t0\n") {
		t.Errorf("--seccomp unconfined --privileged: %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestCapAddDrop(t *testing.T) {
	e := newE2E(t)
	r := e.run("", "launch", "--rm", "--cap-drop", "ALL", "--cap-add", "net_admin", e.rootfs, "grep", "CapEff", "/proc/self/status")
	if r.Code != 0 || !strings.Contains(r.Stdout, "CapEff:\t0000000000001000\n") {
		t.Errorf("--cap-drop ALL --cap-add net_admin: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	r = e.run("", "launch", "--rm", "--cap-drop", "CHOWN", e.rootfs, "grep", "CapEff", "/proc/self/status")
	if !strings.Contains(r.Stdout, "CapEff:\t00000000a80425fa\n") {
		t.Errorf("--cap-drop CHOWN: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestSeccompDenyExecve(t *testing.T) {
	e := newE2E(t)
	r := e.run("", "launch", "--rm", "--seccomp", repoFile(t, "deploy/seccomp/deny-execve.json"), e.rootfs, "sh", "-c", "echo ran")
	if r.Code != 126 || strings.Contains(r.Stdout, "ran") || !strings.Contains(r.Stderr, "refused execve") {
		t.Errorf("deny-execve: %d %q %q, want 126 and the refused syscall named", r.Code, r.Stdout, r.Stderr)
	}
	e.assertClean()
}

func TestBadConfinementInput(t *testing.T) {
	e := newE2E(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"malformed profile", []string{"--seccomp", write("bad.json", `{"defaultAction": `)}, "bad.json: decoding seccomp profile failed"},
		{"unknown syscall", []string{"--seccomp", write("unk.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["nosuchcall"],"action":"SCMP_ACT_ERRNO"}]}`)}, `unknown syscall "nosuchcall"`},
		{"unknown action", []string{"--seccomp", write("act.json", `{"defaultAction":"SCMP_ACT_BOGUS"}`)}, `unknown or unsupported action "SCMP_ACT_BOGUS"`},
		{"missing profile", []string{"--seccomp", filepath.Join(dir, "none.json")}, "none.json: no such file"},
		{"unknown capability", []string{"--cap-add", "CAP_BOGUS"}, `--cap-add: unknown capability "CAP_BOGUS"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.run("", append(append([]string{"launch", "--rm"}, c.args...), e.rootfs, "true")...)
			if r.Code != 125 || !strings.Contains(r.Stderr, c.want) {
				t.Errorf("%d %q, want 125 and %q", r.Code, r.Stderr, c.want)
			}
			e.assertClean()
		})
	}
}

func sum(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestSymlinkMountTargets attacks with a root filesystem whose mount
// targets are symlinks out of it (CVE-2021-30465, CVE-2024-45310 and the
// /dev/null advisories): nothing may be mounted or written outside it.
func TestSymlinkMountTargets(t *testing.T) {
	e := newE2E(t)
	root := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", e.rootfs, root).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v %s", err, out)
	}
	for link, target := range map[string]string{"proc": "/etc", "dev": "/tmp", "etc/hosts": "/etc/passwd", "sys": "../../../../../../etc"} {
		p := filepath.Join(root, link)
		_ = os.RemoveAll(p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	before := sum(t, "/etc/passwd")
	mountsBefore := hostMounts(t, filepath.Dir(root))
	r := e.run("", "launch", "--rm", root, "sh", "-c", "echo pwned > /etc/hosts; cat /proc/self/status | head -1")
	t.Logf("launch: %d %s %s", r.Code, r.Stdout, r.Stderr)
	if got := sum(t, "/etc/passwd"); got != before {
		t.Fatalf("host /etc/passwd changed")
	}
	if mountsAfter := hostMounts(t, filepath.Dir(root)); !slices.Equal(mountsBefore, mountsAfter) {
		t.Errorf("host mount table changed:\nbefore %q\nafter  %q", mountsBefore, mountsAfter)
	}
	e.assertClean()
}

func TestPsShowsPosture(t *testing.T) {
	e := newE2E(t)
	if r := e.run("", "launch", "-d", "--name", "post", e.rootfs, "sleep", "60"); r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	r := e.run("", "ps", "-o", "json")
	var got []struct {
		Name     string `json:"name"`
		Seccomp  string `json:"seccomp"`
		Security *struct {
			Seccomp    int    `json:"seccomp"`
			NoNewPrivs bool   `json:"no_new_privs"`
			CapEff     uint64 `json:"cap_eff"`
		} `json:"security"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || len(got) != 1 {
		t.Fatalf("ps json: %v %s", err, r.Stdout)
	}
	g := got[0]
	if g.Seccomp != "default" || g.Security == nil || g.Security.Seccomp != 2 || !g.Security.NoNewPrivs || g.Security.CapEff != 0xa80425fb {
		t.Errorf("ps posture: %+v %+v", g, g.Security)
	}
	e.run("", "rm", "-f", "post")
	e.assertClean()
}

// hostMounts returns the mount points of the host mount table that an
// escaping launch could have touched: the host's own system directories
// and anything whose path starts with one of own (the test's temporary
// trees; t.TempDir names each after its test, subtests included). Other test
// packages run in parallel and mount freely elsewhere (dockerd's overlays
// under /var/lib/docker, netns files under /run), so comparing the whole
// table would flag their work as ours.
func hostMounts(t *testing.T, own ...string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	exact := map[string]bool{"/": true, "/tmp": true, "/run": true, "/var": true}
	prefixes := []string{"/etc", "/proc", "/sys", "/dev", "/usr", "/bin", "/sbin", "/lib", "/root"}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := f[4]
		keep := exact[mp]
		for _, p := range prefixes {
			keep = keep || mp == p || strings.HasPrefix(mp, p+"/")
		}
		for _, p := range own {
			keep = keep || strings.HasPrefix(mp, p)
		}
		if keep {
			out = append(out, strings.Join(f[2:], " ")) // without the mount ids, which renumber
		}
	}
	return out
}

// Package testutil holds what nsagent's tests share: the rule that a test
// which needs root or a real component fails in CI instead of skipping, a
// busybox root filesystem built from the host's busybox-static, a Docker
// image imported from it, and helpers that start and reap processes the
// test owns.
//
// It touches only what a test creates: processes it started (ended by pid),
// directories under t.TempDir, images it imported under its own name.
package testutil

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true), where a missing
// privilege or component is a failure, not a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips the test outside CI and fails it in CI, saying what it
// needs.
func Unavailable(t testing.TB, format string, a ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, a...)
	if InCI() {
		t.Fatalf("needs %s (CI=true: a skip here is a failure)", msg)
	}
	t.Skipf("needs %s", msg)
}

// RequireRoot stops the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "root")
	}
}

// RequireCommand returns the path of a command, or stops the test.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s in PATH (make deps installs it)", name)
	}
	return p
}

// Run runs a command and returns its stdout, failing the test with its
// stderr if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// Start starts cmd and registers a clean-up that kills it (by its pid, with
// SIGKILL) and reaps it.
func Start(t testing.TB, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

var (
	busyboxOnce sync.Once
	busyboxDir  string
	busyboxErr  error
)

// BusyboxRootfs returns a root filesystem built from the host's
// busybox-static: /bin/busybox and a link per applet, /etc/passwd and
// group, and empty /proc, /sys, /dev, /tmp. It is built once per test
// binary in a fresh temporary directory, which tests share: callers must
// not modify it.
func BusyboxRootfs(t testing.TB) string {
	t.Helper()
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		Unavailable(t, "busybox-static (/bin/busybox)")
	}
	busyboxOnce.Do(func() { busyboxDir, busyboxErr = sharedBusyboxRootfs(bb) })
	if busyboxErr != nil {
		t.Fatalf("build busybox rootfs: %v", busyboxErr)
	}
	return busyboxDir
}

// sharedBusyboxRootfs returns TMPDIR/nsagent-busybox-<hash of bb>/rootfs,
// building it if no test binary has yet: one tree for every package's
// tests and every run, instead of a new one per test binary that nothing
// removes (go test ./... outside scripts/test.sh left one per package and
// run in /tmp). It is built in a temporary directory and renamed into
// place, so test binaries running in parallel never see half a tree.
func sharedBusyboxRootfs(bb string) (string, error) {
	data, err := os.ReadFile(bb)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	final := filepath.Join(os.TempDir(), fmt.Sprintf("nsagent-busybox-%x", sum[:8]))
	if _, err := os.Stat(filepath.Join(final, "rootfs", "bin", "busybox")); err == nil {
		return filepath.Join(final, "rootfs"), nil
	}
	tmp, err := os.MkdirTemp("", "nsagent-busybox-build-")
	if err != nil {
		return "", err
	}
	// Searchable by others: --userns tests run the workload as an
	// unprivileged host uid that must reach the tree.
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := BuildBusyboxRootfs(bb, filepath.Join(tmp, "rootfs")); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp) // another test binary got there first
		if _, serr := os.Stat(filepath.Join(final, "rootfs", "bin", "busybox")); serr != nil {
			return "", err
		}
	}
	return filepath.Join(final, "rootfs"), nil
}

// BuildBusyboxRootfs lays out a busybox root filesystem at dir from the
// static busybox binary bb.
func BuildBusyboxRootfs(bb, dir string) error {
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var/run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "bin/busybox" {
			continue
		}
		link := filepath.Join(dir, applet)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Dir(link), filepath.Join(dir, "bin/busybox"))
		if err := os.Symlink(rel, link); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

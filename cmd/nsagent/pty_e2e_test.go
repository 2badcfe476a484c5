package main

import (
	"bytes"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsagent/nsagent/launcher"
)

// runOnPTY runs nsagent with a host pty as its terminal, as a user at a
// shell would, and returns what it printed there and its exit status.
func runOnPTY(t *testing.T, e *e2e, args ...string) (string, int) {
	t.Helper()
	m, tty, err := launcher.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.env.Env()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&out, m); close(done) }() // ends with EIO when the last holder closes
	werr := cmd.Wait()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("pty output did not end")
	}
	code := 0
	if ee, ok := werr.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return strings.ReplaceAll(out.String(), "\r", ""), code
}

// ptyCheck is a script whose output says whose pty the command has: the
// workload's devpts holds only the pty made for it.
const ptyCheck = "tty; echo pts: $(ls /dev/pts)"

func checkWorkloadPTY(t *testing.T, out string) {
	t.Helper()
	if strings.Contains(out, "not a tty") || !strings.Contains(out, "/dev/pts/0\n") || !strings.Contains(out, "pts: 0 ptmx\n") {
		t.Errorf("the command's terminal is not a pty of the workload's own devpts:\n%s", out)
	}
}

func TestLaunchTTY(t *testing.T) {
	e := newE2E(t)
	out, code := runOnPTY(t, e, "launch", "--rm", "-t", e.rootfs, "sh", "-c", ptyCheck)
	if code != 0 {
		t.Fatalf("launch -t: %d\n%s", code, out)
	}
	checkWorkloadPTY(t, out)
	e.assertClean()
}

func TestExecTTY(t *testing.T) {
	e := newE2E(t)
	if r := e.run("", "launch", "-d", "--name", "tt", e.rootfs, "sleep", "60"); r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	out, code := runOnPTY(t, e, "exec", "-t", "tt", "sh", "-c", ptyCheck+"; exit 3")
	if code != 3 {
		t.Errorf("exec -t: status %d, want the command's 3\n%s", code, out)
	}
	checkWorkloadPTY(t, out)
	// Without -t the command has the caller's stdio, no new terminal.
	if r := e.run("", "exec", "tt", "tty"); !strings.Contains(r.Stdout, "not a tty") {
		t.Errorf("exec without -t: %q", r.Stdout)
	}
	// A command that fails before it gets its pty reports why.
	out, code = runOnPTY(t, e, "exec", "-t", "-w", "/nonexistent", "tt", "true")
	if code != 125 || !strings.Contains(out, "/nonexistent") {
		t.Errorf("exec -t with a bad workdir: %d %q", code, out)
	}
	if r := e.run("", "rm", "-f", "tt"); r.Code != 0 {
		t.Errorf("rm: %d %s", r.Code, r.Stderr)
	}
	e.assertClean()
}

package testutil

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	nsagentOnce sync.Once
	nsagentBin  string
	nsagentErr  error
	nsagentOut  []byte
)

// NSAgentBinary builds cmd/nsagent once per test binary with
// scripts/build.sh, as users get it, and returns its path.
//
// In the cgroup v2 lane (no Go toolchain in the guest) the binary is
// shipped prebuilt and named by NSAGENT_BIN.
func NSAgentBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("NSAGENT_BIN"); p != "" {
		return p
	}
	nsagentOnce.Do(func() {
		// TMPDIR/nsagent-bin-<pid of this test binary>: nothing removes
		// it when the test binary exits, so each build first removes
		// those of test binaries that have (a go test ./... outside
		// scripts/test.sh otherwise left a 24 MB binary per package).
		removeStaleBinDirs()
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("nsagent-bin-%d", os.Getpid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			nsagentErr = err
			return
		}
		nsagentBin = filepath.Join(dir, "nsagent")
		// As `make build` builds it, launch binary included (package
		// launcher/nsenter's fastlaunch.go).
		_, self, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "build.sh")
		cmd := exec.Command("bash", script, nsagentBin)
		cmd.Env = append(os.Environ(), "GO="+filepath.Join(runtime.GOROOT(), "bin", "go"))
		nsagentOut, nsagentErr = cmd.CombinedOutput()
	})
	if nsagentErr != nil {
		t.Fatalf("build nsagent: %v\n%s", nsagentErr, nsagentOut)
	}
	return nsagentBin
}

// removeStaleBinDirs removes the nsagent-bin-<pid> directories of test
// binaries that are no longer running.
func removeStaleBinDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "nsagent-bin-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "nsagent-bin-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// LauncherEnv is a launcher sandbox for one test: its own state
// directory and cgroup parent (/nsagent-test-<random>), so the test can
// compare them before and after and remove them when it ends.
type LauncherEnv struct {
	StateDir     string
	CgroupParent string
	CgroupRoot   string
	// Bridge and Subnet are the test's own bridge network (never the
	// user's nsagent0): nsat<random> on a random 10.2xx.y.0/24.
	Bridge, Subnet string
}

// NewLauncherEnv makes a sandbox and registers a clean-up that removes
// the cgroup parent's directories the test left (rmdir, deepest first:
// only empty cgroups go, and only under this test's parent).
func NewLauncherEnv(t testing.TB) *LauncherEnv {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	e := &LauncherEnv{
		StateDir:     t.TempDir(),
		CgroupParent: "/nsagent-test-" + hex.EncodeToString(b[:]),
		CgroupRoot:   "/sys/fs/cgroup",
		Bridge:       "nsat" + hex.EncodeToString(b[:]),
		Subnet:       fmt.Sprintf("10.%d.%d.0/24", 200+int(b[0])%50, b[1]),
	}
	t.Cleanup(func() {
		e.WaitIdleBridges()
		for _, d := range e.CgroupDirs() {
			_ = os.Remove(d)
		}
	})
	return e
}

// WaitIdleBridges waits (up to 5 s) for the background tear-down of the
// sandbox's idle bridges (`nsagent net-teardown`, started by the last
// workload to leave one): it still writes in the state directory after
// the test's last command has returned, and the directory's removal must
// not race with it.
func (e *LauncherEnv) WaitIdleBridges() {
	// The records (STATE/ipam-BRIDGE.json) are read here, not through
	// package bridge, whose own tests use this package.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		idle := false
		records, _ := filepath.Glob(filepath.Join(e.StateDir, "ipam-*.json"))
		for _, p := range records {
			var r struct {
				Allocs []json.RawMessage `json:"allocations"`
			}
			if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &r) == nil && len(r.Allocs) == 0 {
				idle = true
			}
		}
		// Then it waits for the departed veths to go and empties their
		// list (STATE/departed-veths).
		if _, err := os.Stat(filepath.Join(e.StateDir, "departed-veths")); !idle && err != nil {
			return
		}
	}
}

// Env is the environment that points nsagent at the sandbox.
func (e *LauncherEnv) Env() []string {
	return append(os.Environ(), "NSAGENT_STATE_DIR="+e.StateDir, "NSAGENT_CGROUP_PARENT="+e.CgroupParent,
		"NSAGENT_BRIDGE="+e.Bridge, "NSAGENT_SUBNET="+e.Subnet)
}

// CgroupDirs lists every directory under the sandbox's cgroup parent in
// every hierarchy (the parent included), deepest first.
func (e *LauncherEnv) CgroupDirs() []string {
	var dirs []string
	hier, _ := os.ReadDir(e.CgroupRoot)
	for _, h := range hier {
		if !h.IsDir() {
			continue
		}
		base := filepath.Join(e.CgroupRoot, h.Name(), e.CgroupParent)
		_ = filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	if _, err := os.Stat(filepath.Join(e.CgroupRoot, "cgroup.controllers")); err == nil {
		_ = filepath.WalkDir(filepath.Join(e.CgroupRoot, e.CgroupParent), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	return dirs
}

// StateEntries lists the state directory's entries (recursively).
func (e *LauncherEnv) StateEntries() []string {
	var out []string
	_ = filepath.WalkDir(e.StateDir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// MountsMentioning returns the lines of the host's mountinfo that name
// any of the given paths: what a launch could have left mounted.
func MountsMentioning(t testing.TB, paths ...string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, p := range paths {
			if p != "" && strings.Contains(line, p) {
				out = append(out, line)
			}
		}
	}
	return out
}

// Result is how a command run by RunCmd ended.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// RunCmd runs name args with env and stdin, and returns its output and
// exit status (a failure to start fails the test).
func RunCmd(t testing.TB, env []string, stdin string, name string, args ...string) Result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	default:
		t.Fatalf("run %s: %v", name, err)
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

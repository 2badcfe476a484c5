package launcher

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsagent/nsagent/launcher/nsenter"
)

// Kill sends sig to the workload's init.
func (l *Launcher) Kill(ref string, sig unix.Signal) (*State, error) {
	st, err := l.Store.Get(ref)
	if err != nil {
		return nil, err
	}
	if !st.Alive() {
		return st, fmt.Errorf("workload %s is not running", st.Name)
	}
	// A pidfd pins the process checked above: the signal cannot reach an
	// unrelated process that reused the pid.
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil {
		return st, fmt.Errorf("workload %s: %w", st.Name, err)
	}
	defer unix.Close(fd)
	if !st.Alive() {
		return st, fmt.Errorf("workload %s is not running", st.Name)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return st, fmt.Errorf("signal workload %s: %w", st.Name, err)
	}
	return st, nil
}

// ErrRunning is returned by Remove without force for a running workload.
var ErrRunning = errors.New("workload is running")

// Remove deletes a workload that has ended: its cgroup, its state and
// files. With force a running one is killed first.
func (l *Launcher) Remove(ref string, force bool) (*State, error) {
	st, err := l.Store.Get(ref)
	if err != nil {
		return nil, err
	}
	if st.Alive() {
		if !force {
			return st, fmt.Errorf("%w: %s (kill it first or use rm -f)", ErrRunning, st.Name)
		}
		if _, err := l.Kill(st.ID, unix.SIGKILL); err != nil && st.Alive() {
			return st, err
		}
		waitGone(st.Alive, 5*time.Second)
		// Let its launcher record the exit and clean up first.
		waitGone(func() bool { return pidAlive(st.MonitorPid) && st.MonitorPid != os.Getpid() }, 2*time.Second)
	}
	return st, l.removeState(st)
}

func (l *Launcher) removeState(st *State) error {
	var errs []error
	if err := l.killCgroup(st); err != nil {
		errs = append(errs, err)
	}
	if n, err := l.network(st.Network); err == nil {
		if err := n.Release(st); err != nil {
			errs = append(errs, err)
		}
	}
	unlock, err := l.Store.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := l.Store.Remove(st.ID); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// killCgroup kills whatever is left in a dead workload's cgroup (only
// possible with --pid host: a pid namespace dies with its init) and
// removes the cgroup.
func (l *Launcher) killCgroup(st *State) error {
	cg, err := LoadCgroup(l.CgroupRoot, st.CgroupPath)
	if err != nil {
		return err
	}
	if pids, _ := cg.Procs(); len(pids) > 0 {
		for _, p := range pids {
			_ = unix.Kill(p, unix.SIGKILL)
		}
		waitGone(func() bool { p, _ := cg.Procs(); return len(p) > 0 }, 2*time.Second)
	}
	return cg.Delete()
}

func waitGone(alive func() bool, limit time.Duration) {
	for end := time.Now().Add(limit); alive() && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
}

// GCReport says what GC removed.
type GCReport struct {
	Workloads []string // ids whose state and cgroup were removed
	Cgroups   []string // cgroup directories that had no workload
	Cache     []string // half-unpacked root filesystems
	Addresses []string // ids whose bridge addresses were released
}

// GC removes every leftover of workloads whose processes are gone: their
// cgroups, their state, cgroups under the parent that no workload
// claims, and interrupted tarball unpackings. Mounts need nothing: a
// workload's mounts live in its own mount namespace and die with it. A
// workload being launched (its launcher alive) is left alone.
func (l *Launcher) GC() (GCReport, error) {
	var rep GCReport
	var errs []error
	all, err := l.Store.List()
	if err != nil {
		return rep, err
	}
	known := map[string]bool{}
	for _, st := range all {
		known[st.ID] = true
		if st.Status != StatusExited && st.Status != StatusDead {
			continue
		}
		if err := l.removeState(st); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Workloads = append(rep.Workloads, st.ID)
	}
	if ids, err := l.gcNetworks(); err != nil {
		errs = append(errs, err)
	} else {
		rep.Addresses = ids
	}
	cg, err := LoadCgroup(l.CgroupRoot, l.CgroupParent)
	if err != nil {
		return rep, errors.Join(append(errs, err)...)
	}
	for _, parent := range cg.Dirs() {
		ents, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() || known[e.Name()] {
				continue
			}
			dir := filepath.Join(parent, e.Name())
			if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); len(strings.TrimSpace(string(b))) > 0 {
				continue // someone's processes: not ours to judge
			}
			if err := rmdirRetry(dir); err != nil {
				errs = append(errs, err)
				continue
			}
			rep.Cgroups = append(rep.Cgroups, dir)
		}
		// The parent goes too once empty, so the host is as before.
		_ = os.Remove(parent)
	}
	cache := filepath.Join(l.Store.Dir, cacheDirName, "rootfs")
	if ents, err := os.ReadDir(cache); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".unpack-") {
				if err := os.RemoveAll(filepath.Join(cache, e.Name())); err == nil {
					rep.Cache = append(rep.Cache, e.Name())
				}
			}
		}
	}
	return rep, errors.Join(errs...)
}

// ExecCommand returns the command that runs args inside a running
// workload: the binary self re-executed, its C constructor (package
// nsenter) joining the workload's cgroup and namespaces before the Go
// runtime starts. env is added to the workload's environment.
func (l *Launcher) ExecCommand(st *State, self string, args, env []string, cwd string, user string) (*exec.Cmd, error) {
	if !st.Alive() {
		return nil, fmt.Errorf("workload %s is not running", st.Name)
	}
	cg, err := LoadCgroup(l.CgroupRoot, st.CgroupPath)
	if err != nil {
		return nil, err
	}
	var procs []string
	for _, f := range cg.ProcsFiles() {
		if _, err := os.Stat(f); err == nil {
			procs = append(procs, f)
		}
	}
	c := &Config{Env: append(append([]string(nil), st.Env...), env...), UID: st.UID, Hostname: st.Hostname}
	if cwd == "" {
		cwd = st.Cwd
	}
	if user == "" {
		user = strconv.Itoa(st.UID) + ":" + strconv.Itoa(st.GID)
	} else {
		uid, gid, err := ParseUser(user)
		if err != nil {
			return nil, err
		}
		user, c.UID = strconv.Itoa(uid)+":"+strconv.Itoa(gid), uid
	}
	cmdEnv := append(workloadEnv(c),
		nsenter.EnvPid+"="+strconv.Itoa(st.Pid),
		nsenter.EnvCgroupProcs+"="+strings.Join(procs, ":"),
		nsenter.EnvCwd+"="+cwd,
		nsenter.EnvUser+"="+user,
		// The workload's confinement, as runc exec applies the
		// container's: its capabilities, no_new_privs and seccomp filter.
		nsenter.EnvCaps+"="+strconv.FormatUint(capMask(st.Caps), 16),
	)
	if st.NoNewPrivs {
		cmdEnv = append(cmdEnv, nsenter.EnvNoNewPrivs+"=1")
	}
	if st.Seccomp != "" && st.Seccomp != SeccompUnconfined {
		prog := filepath.Join(l.Store.WorkloadDir(st.ID), seccompFile)
		if _, err := os.Stat(prog); err != nil {
			return nil, fmt.Errorf("workload %s: its seccomp program: %w", st.Name, err)
		}
		cmdEnv = append(cmdEnv, nsenter.EnvSeccomp+"="+prog)
	}
	if self == "" {
		// The helper runs from a sealed copy (CVE-2019-5736): its child
		// is in the workload's pid namespace until it execve's.
		if self, err = SealedSelf(l.sealDir()); err != nil {
			return nil, err
		}
	}
	return &exec.Cmd{
		Path: self,
		Args: append([]string{"nsagent", nsenter.Marker}, args...),
		Env:  cmdEnv,
	}, nil
}

// ExecConsole makes cmd (from ExecCommand) give its command a new pty on
// the workload's own devpts, the way launch -t does: the constructor
// opens the workload's /dev/ptmx after joining its mount namespace and
// sends the master back. Call the returned function after cmd.Start; it
// returns the master, or an error if the command failed before it had
// a terminal (its status then says why).
func ExecConsole(cmd *exec.Cmd) (recv func() (*os.File, error), err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "console")
	child := os.NewFile(uintptr(fds[1]), "console-child")
	cmd.ExtraFiles = append(cmd.ExtraFiles, child)
	cmd.Env = append(cmd.Env, nsenter.EnvConsole+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
	return func() (*os.File, error) {
		child.Close() // the constructor's copies alone keep it open
		defer parent.Close()
		m, err := recvFD(parent)
		if err != nil {
			return nil, fmt.Errorf("no pty from the workload: %w", err)
		}
		return m, nil
	}, nil
}

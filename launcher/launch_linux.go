package launcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Launcher starts workloads. Its paths are values so tests run against
// their own state directory and cgroup parent and clean up after.
type Launcher struct {
	// Store is where workload state lives (default /run/nsagent).
	Store Store
	// CgroupRoot is the cgroupfs mount (default /sys/fs/cgroup).
	CgroupRoot string
	// CgroupParent is the absolute cgroup under which each workload gets
	// PARENT/ID (default /nsagent).
	CgroupParent string
	// Self is the binary re-executed as the init, and InitArgs the
	// arguments that make it one (the hidden `nsagent init`).
	Self     string
	InitArgs []string
}

// Stdio is what the workload's fds 0, 1 and 2 are.
type Stdio struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Workload is a started workload whose launcher waits for it.
type Workload struct {
	State *State
	l     *Launcher
	cmd   *exec.Cmd
	cg    *Cgroup
	net   Network
	// Console is the master of the workload's pty (Config.TTY).
	Console *os.File
}

// Cgroup is the workload's cgroup.
func (w *Workload) Cgroup() *Cgroup { return w.cg }

// syncMsg is one message on the init's sync socket.
type syncMsg struct {
	Op   string `json:"op"` // init: "ready", "error"; launcher: "go"
	Code int    `json:"code,omitempty"`
	Msg  string `json:"msg,omitempty"`
}

// initConfig is what the init reads from its inherited fd.
type initConfig struct {
	Config
	// Rootfs is resolved: a directory even when the user gave a tarball.
	WorkloadDir string `json:"workload_dir"`
}

// initFD is the fd number of the sync socket in the init: 3, the first of
// exec.Cmd.ExtraFiles.
const initFD = 3

// Launch validates cfg, records the workload, creates its cgroup and
// starts it: it returns once the command has been executed in the
// workload (or with an *Error whose Code is 125, 126 or 127, having
// removed everything it made). The calling goroutine stays locked to its
// OS thread: the init's parent-death signal is tied to that thread.
func (l *Launcher) Launch(cfg *Config, stdio Stdio) (_ *Workload, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, &Error{Code: ExitLaunchError, Err: err}
	}
	net, err := l.network(cfg.Network)
	if err != nil {
		return nil, &Error{Code: ExitLaunchError, Err: err}
	}
	rootfs, err := l.resolveRootfs(cfg.Rootfs)
	if err != nil {
		return nil, &Error{Code: ExitLaunchError, Err: err}
	}
	for _, m := range cfg.Mounts {
		if _, err := os.Stat(m.Source); err != nil {
			return nil, launchErr(ExitLaunchError, "volume source %s: %w", m.Source, errors.Unwrap(err))
		}
	}

	id := NewID()
	if cfg.Name == "" {
		cfg.Name = "ns-" + id[:8]
	}
	if cfg.Hostname == "" && cfg.Namespaces.UTS == NSNew {
		cfg.Hostname = id[:12]
	}
	st := &State{
		ID: id, Name: cfg.Name, Command: cfg.Args, Rootfs: cfg.Rootfs,
		MonitorPid: os.Getpid(), Status: StatusCreated, Created: time.Now().UTC(),
		Limits: cfg.Limits, CgroupPath: filepath.Join(l.CgroupParent, id),
		Namespaces: cfg.Namespaces, Hostname: cfg.Hostname, Network: cfg.Network, Detached: cfg.Detach,
		AutoRemove: cfg.AutoRemove, UID: cfg.UID, GID: cfg.GID, Cwd: cfg.Cwd, Env: cfg.Env,
	}
	unlock, err := l.Store.Lock()
	if err != nil {
		return nil, &Error{Code: ExitLaunchError, Err: err}
	}
	err = l.Store.Create(st)
	unlock()
	if err != nil {
		return nil, &Error{Code: ExitLaunchError, Err: err}
	}
	w := &Workload{State: st, l: l, net: net}
	defer func() {
		if err != nil {
			w.destroy()
		}
	}()
	if err := writeEtcFiles(l.Store.WorkloadDir(id), cfg); err != nil {
		return nil, &Error{Code: ExitLaunchError, Err: err}
	}
	if err := net.Prepare(cfg, st); err != nil {
		return nil, launchErr(ExitLaunchError, "network %s: %w", cfg.Network, err)
	}
	if cfg.Detach {
		// A detached workload's output goes to a log (nsagent logs).
		st.LogPath = filepath.Join(l.Store.WorkloadDir(id), "output.log")
		logf, err := os.OpenFile(st.LogPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
		if err != nil {
			return nil, launchErr(ExitLaunchError, "log file: %w", err)
		}
		defer logf.Close()
		stdio = Stdio{Stdout: logf, Stderr: logf}
	}
	cg, err := CreateCgroup(l.CgroupRoot, st.CgroupPath, cfg.Limits)
	if err != nil {
		return nil, &Error{Code: ExitLaunchError, Err: err}
	}
	w.cg = cg
	st.CgroupMode = string(cg.Mode())

	ic := initConfig{Config: *cfg, WorkloadDir: l.Store.WorkloadDir(id)}
	ic.Rootfs = rootfs
	if err := w.start(&ic, stdio); err != nil {
		return nil, err
	}
	return w, nil
}

// cloneFlags turns the namespace choices into clone(2) flags. The cgroup
// namespace is not among them: the init unshares it after it has been
// moved into the workload's cgroup, so that cgroup is the namespace root.
func cloneFlags(ns Namespaces) uintptr {
	var f uintptr
	for _, x := range []struct {
		m    NSMode
		flag uintptr
	}{
		{ns.PID, unix.CLONE_NEWPID}, {ns.Mount, unix.CLONE_NEWNS}, {ns.UTS, unix.CLONE_NEWUTS},
		{ns.IPC, unix.CLONE_NEWIPC}, {ns.Net, unix.CLONE_NEWNET}, {ns.User, unix.CLONE_NEWUSER},
	} {
		if x.m == NSNew {
			f |= x.flag
		}
	}
	return f
}

func (w *Workload) start(ic *initConfig, stdio Stdio) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return launchErr(ExitLaunchError, "sync socket: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "init-sync")
	child := os.NewFile(uintptr(fds[1]), "init-sync-child")
	defer parent.Close()
	extra := []*os.File{child}
	// The pty is made inside the workload (on its own devpts, so the
	// terminal's name means something there); its master comes back over
	// a second socket, as runc's console socket does.
	var consoleParent *os.File
	if ic.TTY {
		cfds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			child.Close()
			return launchErr(ExitLaunchError, "console socket: %w", err)
		}
		consoleParent = os.NewFile(uintptr(cfds[0]), "console")
		defer consoleParent.Close()
		consoleChild := os.NewFile(uintptr(cfds[1]), "console-child")
		defer consoleChild.Close()
		extra = append(extra, consoleChild)
	}

	self := w.l.Self
	if self == "" {
		self = "/proc/self/exe"
	}
	cmd := &exec.Cmd{
		Path:       self,
		Args:       append([]string{"nsagent"}, w.l.InitArgs...),
		Env:        []string{},
		Stdin:      stdio.Stdin,
		Stdout:     stdio.Stdout,
		Stderr:     stdio.Stderr,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: cloneFlags(ic.Namespaces),
			// The workload dies with its launcher; gc then finds it dead.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if ic.Namespaces.User == NSNew {
		for _, m := range ic.UIDMap {
			cmd.SysProcAttr.UidMappings = append(cmd.SysProcAttr.UidMappings, syscall.SysProcIDMap{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
		}
		for _, m := range ic.GIDMap {
			cmd.SysProcAttr.GidMappings = append(cmd.SysProcAttr.GidMappings, syscall.SysProcIDMap{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
		}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
	}
	// Pdeathsig fires when the thread that forked the init exits, not the
	// process: keep this goroutine on its thread for good.
	runtime.LockOSThread()
	if err := cmd.Start(); err != nil {
		child.Close()
		return launchErr(ExitLaunchError, "start init: %w", err)
	}
	child.Close()
	w.cmd = cmd
	st := w.State
	st.Pid = cmd.Process.Pid
	st.PidStart, _ = procStartTime(st.Pid)

	enc, dec := json.NewEncoder(parent), json.NewDecoder(parent)
	if err := enc.Encode(ic); err != nil {
		return w.initFailed(dec, fmt.Errorf("send config to init: %w", err))
	}
	var msg syncMsg
	if err := dec.Decode(&msg); err != nil {
		return w.initFailed(dec, fmt.Errorf("init: %w", err))
	}
	if msg.Op != "ready" {
		return &Error{Code: msg.Code, Err: errors.New(msg.Msg)}
	}
	if consoleParent != nil {
		if w.Console, err = recvFD(consoleParent); err != nil {
			return launchErr(ExitLaunchError, "receive pty: %w", err)
		}
	}
	if err := w.net.Parent(st.Pid, st); err != nil {
		return launchErr(ExitLaunchError, "network %s: %w", ic.Network, err)
	}
	// The last sync before execve: the Go init ran so far outside the
	// limited cgroup, so its runtime's memory and threads stay charged to
	// the launcher's cgroup; from here on, everything is the workload's.
	if err := w.cg.AddProc(st.Pid); err != nil {
		return launchErr(ExitLaunchError, "%w", err)
	}
	if err := enc.Encode(syncMsg{Op: "go"}); err != nil {
		return w.initFailed(dec, fmt.Errorf("start workload: %w", err))
	}
	msg = syncMsg{}
	switch err := dec.Decode(&msg); {
	case errors.Is(err, io.EOF):
		// The socket is close-on-exec: EOF means execve succeeded.
	case err != nil:
		return w.initFailed(dec, fmt.Errorf("init: %w", err))
	default:
		return &Error{Code: msg.Code, Err: errors.New(msg.Msg)}
	}
	st.Status = StatusRunning
	if err := w.l.Store.Save(st); err != nil {
		return launchErr(ExitLaunchError, "%w", err)
	}
	return nil
}

// initFailed reports an init that died or broke the protocol.
func (w *Workload) initFailed(_ *json.Decoder, err error) error {
	if w.cmd != nil {
		_ = w.cmd.Process.Kill()
		if werr := w.cmd.Wait(); werr != nil {
			err = fmt.Errorf("%w (init %v)", err, werr)
		}
		w.cmd = nil
	}
	return &Error{Code: ExitLaunchError, Err: err}
}

// destroy removes all a failed launch made: the init, the cgroup, the
// state entry.
func recvFD(sock *os.File) (*os.File, error) {
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("no fd in message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no fd in message")
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}

func (w *Workload) destroy() {
	if w.Console != nil {
		w.Console.Close()
	}
	if w.cmd != nil {
		_ = w.cmd.Process.Kill()
		_ = w.cmd.Wait()
	}
	if w.cg != nil {
		_ = w.cg.Delete()
	}
	_ = w.net.Release(w.State)
	if unlock, err := w.l.Store.Lock(); err == nil {
		_ = w.l.Store.Remove(w.State.ID)
		unlock()
	}
}

// ExitStatus is how a workload ended.
type ExitStatus struct {
	// Code is the exit status nsagent reports: the workload's own, or
	// 128+N when a signal N killed it.
	Code int
	// Signal is the signal that killed it, if any.
	Signal syscall.Signal
	// OOMKilled is set when the kernel's OOM killer killed a process of
	// the workload's cgroup.
	OOMKilled bool
}

// Signal sends sig to the workload's init.
func (w *Workload) Signal(sig os.Signal) error {
	return w.cmd.Process.Signal(sig)
}

// Wait waits for the workload to end, records its exit, and removes its
// cgroup (and with AutoRemove its state).
func (w *Workload) Wait() (ExitStatus, error) {
	err := w.cmd.Wait()
	var es ExitStatus
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			es.Signal = ws.Signal()
			es.Code = 128 + int(es.Signal)
		} else {
			es.Code = ws.ExitStatus()
		}
	default:
		return es, err
	}
	if n, err := w.cg.OOMKills(); err == nil && n > 0 {
		es.OOMKilled = true
	}
	return es, w.finish(es)
}

func (w *Workload) finish(es ExitStatus) error {
	var errs []error
	if err := w.cg.Delete(); err != nil {
		errs = append(errs, err)
	}
	if err := w.net.Release(w.State); err != nil {
		errs = append(errs, err)
	}
	st := w.State
	if st.AutoRemove {
		unlock, err := w.l.Store.Lock()
		if err == nil {
			err = w.l.Store.Remove(st.ID)
			unlock()
		}
		return errors.Join(append(errs, err)...)
	}
	now := time.Now().UTC()
	err := w.l.Store.Update(st.ID, func(s *State) {
		s.Status, s.ExitCode, s.OOMKilled, s.Finished = StatusExited, es.Code, es.OOMKilled, &now
	})
	if errors.Is(err, ErrNotFound) {
		err = nil // removed meanwhile (rm -f, gc): nothing to record
	}
	return errors.Join(append(errs, err)...)
}

// resolveRootfs returns the directory to pivot into: ROOTFS itself, or
// the cached unpacking of a tarball.
func (l *Launcher) resolveRootfs(p string) (string, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("root filesystem %s: no such file or directory", p)
	}
	if err != nil {
		return "", fmt.Errorf("root filesystem: %w", err)
	}
	if fi.IsDir() {
		return p, nil
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("root filesystem %s: neither a directory nor a tarball", p)
	}
	return l.unpackTarball(p)
}

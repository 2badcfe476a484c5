package launcher

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsagent/nsagent/launcher/nsenter"
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
	// TeardownArgs, if set, are the arguments that make the running
	// binary tear an idle bridge down (the hidden `nsagent
	// net-teardown`): the last workload to leave a bridge then starts it
	// in the background instead of waiting the tens of milliseconds the
	// kernel takes to delete a bridge. Unset, the teardown is inline.
	TeardownArgs []string
}

// Stdio is what the workload's fds 0, 1 and 2 are; nil is /dev/null.
// They are files, not readers and writers: the init inherits them as
// they are, with no copying goroutine in the launcher.
type Stdio struct {
	Stdin          *os.File
	Stdout, Stderr *os.File
}

// Workload is a started workload whose launcher waits for it.
type Workload struct {
	State *State
	l     *Launcher
	// pid is the init, a child of this process until Wait reaps it (so
	// the pid cannot be reused under a signal sent to it); 0 once reaped.
	pid int
	// pidfd pins the init for Signal, which may race with Wait reaping
	// it: a signal never reaches a process that reused the pid.
	pidfd int
	cg    *Cgroup
	// sync and console are the launcher's ends of the init's sockets.
	sync, console *os.File
	// self is the binary the init is started from.
	self string
	net  Network
	// Console is the master of the workload's pty (Config.TTY).
	Console *os.File
}

// Cgroup is the workload's cgroup.
func (w *Workload) Cgroup() *Cgroup { return w.cg }

// initConfig is what the init is told over its inherited fd, as records
// (initwire_linux.go).
type initConfig struct {
	Config
	// WorkloadDir is the workload's state directory (its /etc files,
	// an image root's upper layer); Rootfs is resolved: a directory even
	// when the user gave a tarball.
	WorkloadDir string
	// VolumeDirs says which of Config.Mounts' sources are directories
	// (a file is bound onto a file), as Launch found them.
	VolumeDirs []bool
	// Caps is the capability set the command keeps (bounding,
	// permitted and effective for root; none are inheritable or
	// ambient); NoNewPrivs sets no_new_privs; SeccompProg is the BPF
	// program to install right before execve (nil: unconfined).
	Caps        []string
	NoNewPrivs  bool
	SeccompProg []byte
}

// seccompFile is the workload's compiled seccomp program in its state
// directory, for exec.
const seccompFile = "seccomp.bpf"

// initFD is the fd number of the sync socket in the init: 3, the first
// after stdio.
const initFD = 3

// Launch validates cfg, records the workload, creates its cgroup and
// starts it: it returns once the command has been executed in the
// workload (or with an *Error whose Code is 125, 126 or 127, having
// removed everything it made).
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
	if err := checkUsernsRootfs(rootfs, cfg); err != nil {
		return nil, &Error{Code: ExitLaunchError, Err: err}
	}
	// Confinement is settled before anything is made: a bad capability
	// or profile leaves nothing behind.
	caps, err := ResolveCaps(cfg.CapAdd, cfg.CapDrop, cfg.Privileged)
	if err != nil {
		return nil, &Error{Code: ExitLaunchError, Err: err}
	}
	prog, err := SeccompProgram(cfg.SeccompMode(), caps, filepath.Join(l.Store.Dir, cacheDirName))
	if err != nil {
		return nil, &Error{Code: ExitLaunchError, Err: err}
	}
	volumeDirs := make([]bool, len(cfg.Mounts))
	for i, m := range cfg.Mounts {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return nil, launchErr(ExitLaunchError, "volume source %s: %w", m.Source, errors.Unwrap(err))
		}
		volumeDirs[i] = fi.IsDir()
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
		AutoRemove: cfg.AutoRemove, UID: cfg.UID, GID: cfg.GID, Cwd: cfg.Cwd, Env: cfg.Env, Privileged: cfg.Privileged,
	}
	w := &Workload{State: st, l: l, net: net}
	// The init is forked while this process records the workload and
	// writes its files, on the other core: the clone with new namespaces
	// and the init's exec are about 2 ms the launcher no longer waits
	// for. A detached workload's stdio is its log, in the state directory,
	// so its init is forked once that exists.
	var forked <-chan error
	defer func() {
		if err != nil {
			if forked != nil {
				<-forked // w.pid is set, or the fork failed
			}
			w.destroy()
		}
	}()
	// Not /proc/self/exe: the init must not be a way to the host's binary
	// (CVE-2019-5736, see SealedSelf). Sealed here, before anything runs
	// beside it: made on the fork's goroutine while this one wrote the
	// state, the init's execve of the sealed view failed with EACCES in
	// 6 of 240 launches (0 of 240 sealed first, alternating --net none
	// and bridge launches); the kernel-side cause was not pinned down.
	if w.self = l.Self; w.self == "" {
		if w.self, err = SealedSelf(l.sealDir()); err != nil {
			return nil, launchErr(ExitLaunchError, "%w", err)
		}
	}
	if !cfg.Detach {
		forked = w.startFork(cfg, stdio)
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
	if cfg.Detach {
		// A detached workload's output goes to a log (nsagent logs).
		st.LogPath = filepath.Join(l.Store.WorkloadDir(id), "output.log")
		logf, err := os.OpenFile(st.LogPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
		if err != nil {
			return nil, launchErr(ExitLaunchError, "log file: %w", err)
		}
		defer logf.Close()
		forked = w.startFork(cfg, Stdio{Stdout: logf, Stderr: logf})
	}
	ic := initConfig{Config: *cfg, WorkloadDir: l.Store.WorkloadDir(id), VolumeDirs: volumeDirs,
		Caps: caps, NoNewPrivs: !cfg.Privileged && !cfg.NewPrivileges, SeccompProg: prog}
	ic.Rootfs = rootfs
	st.Seccomp, st.Caps, st.NoNewPrivs = cfg.SeccompMode(), caps, ic.NoNewPrivs
	if prog != nil {
		// exec installs the same filter (nsenter reads it from here).
		if err := os.WriteFile(filepath.Join(ic.WorkloadDir, seccompFile), prog, 0o600); err != nil {
			return nil, launchErr(ExitLaunchError, "%w", err)
		}
	}
	if err := writeEtcFiles(l.Store.WorkloadDir(id), cfg); err != nil {
		return nil, &Error{Code: ExitLaunchError, Err: err}
	}
	// The network takes its address and writes the hosts file before the
	// init gets its config (and so before it mounts /etc/hosts).
	if err := net.Prepare(cfg, st); err != nil {
		return nil, launchErr(ExitLaunchError, "network %s: %w", cfg.Network, err)
	}
	cfgWire, err := encodeInit(&ic, net)
	if err != nil {
		return nil, launchErr(ExitLaunchError, "%w", err)
	}
	err, forked = <-forked, nil
	if err != nil {
		return nil, err
	}
	st.Pid = w.pid
	st.PidStart, _ = procStartTime(w.pid)
	// The config goes first: the init sets up the root filesystem while
	// this process makes the network's host side and the cgroup.
	if _, err := w.sync.Write(cfgWire); err != nil {
		return nil, w.sendFailed("send config to init", err)
	}
	// The namespaces exist from the fork on: the network's host side (the
	// bridge's veth into the workload) is made now; the init waits for
	// "parent" before its command runs.
	if err := net.Parent(st.Pid, st); err != nil {
		return nil, w.orInitError(launchErr(ExitLaunchError, "network %s: %w", cfg.Network, err))
	}
	cg, err := CreateCgroup(l.CgroupRoot, st.CgroupPath, cfg.Limits)
	if err != nil {
		return nil, w.orInitError(&Error{Code: ExitLaunchError, Err: err})
	}
	w.cg = cg
	st.CgroupMode = string(cg.Mode())
	if err := w.run(); err != nil {
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

// startFork forks the init on a goroutine of its own and returns the
// channel its error comes on (nil once w.pid and w.pidfd are set). The
// init's parent-death signal fires when the thread that forked it exits,
// not the process, so that goroutine stays locked to its thread and
// blocked for as long as the launcher lives; the caller's goroutine stays
// free to move between threads.
func (w *Workload) startFork(cfg *Config, stdio Stdio) <-chan error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- w.fork(cfg, stdio)
		select {}
	}()
	return done
}

// fork starts the init in its new namespaces with stdio and the sync
// (and console) socket; it then waits for its config.
func (w *Workload) fork(cfg *Config, stdio Stdio) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return launchErr(ExitLaunchError, "sync socket: %w", err)
	}
	w.sync = os.NewFile(uintptr(fds[0]), "init-sync")
	child := os.NewFile(uintptr(fds[1]), "init-sync-child")
	defer child.Close()
	std, err := stdioFiles(stdio)
	if err != nil {
		return launchErr(ExitLaunchError, "%w", err)
	}
	defer closeAll(std.opened)
	files := []uintptr{std.fds[0], std.fds[1], std.fds[2], child.Fd()}
	// The pty is made inside the workload (on its own devpts, so the
	// terminal's name means something there); its master comes back over
	// a second socket, as runc's console socket does.
	if cfg.TTY {
		cfds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return launchErr(ExitLaunchError, "console socket: %w", err)
		}
		w.console = os.NewFile(uintptr(cfds[0]), "console")
		consoleChild := os.NewFile(uintptr(cfds[1]), "console-child")
		defer consoleChild.Close()
		files = append(files, consoleChild.Fd())
	}

	sys := &syscall.SysProcAttr{
		Cloneflags: cloneFlags(cfg.Namespaces),
		// The workload dies with its launcher; gc then finds it dead.
		Pdeathsig: syscall.SIGKILL,
	}
	if cfg.Namespaces.User == NSNew {
		for _, m := range cfg.UIDMap {
			sys.UidMappings = append(sys.UidMappings, syscall.SysProcIDMap{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
		}
		for _, m := range cfg.GIDMap {
			sys.GidMappings = append(sys.GidMappings, syscall.SysProcIDMap{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
		}
		sys.GidMappingsEnableSetgroups = true
		// Become root of the new namespace before execve: the forked
		// child is still the host's root, which the namespace does not
		// map, and execve would leave it with no capabilities there.
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	// syscall.ForkExec rather than os/exec: os.StartProcess first forks
	// a throwaway child to probe pidfd support, one more process and
	// scheduler round trip per launch for nothing the launcher uses.
	// The marker makes the binary's C constructor run the init (package
	// nsenter) before the Go runtime starts.
	pid, err := syscall.ForkExec(w.self, append([]string{"nsagent"}, w.l.InitArgs...), &syscall.ProcAttr{
		Env:   []string{nsenter.EnvInit + "=1"},
		Files: files,
		Sys:   sys,
	})
	if err != nil {
		return launchErr(ExitLaunchError, "start init: %w", err)
	}
	w.pid = pid
	if w.pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
		return w.initFailed(fmt.Errorf("pidfd of init: %w", err))
	}
	return nil
}

// run hands the init the cgroup.procs fds, says "parent" (Launch sent the
// config and ran the network's host side before this), and waits until
// the init has executed the command.
func (w *Workload) run() error {
	defer w.sync.Close()
	if w.console != nil {
		defer w.console.Close()
	}
	procs, err := w.cg.openProcs()
	if err != nil {
		return launchErr(ExitLaunchError, "%w", err)
	}
	fds := make([]int, len(procs))
	for i, f := range procs {
		fds[i] = int(f.Fd())
	}
	err = unix.Sendmsg(int(w.sync.Fd()), []byte{0}, unix.UnixRights(fds...), nil, 0)
	closeAll(procs)
	if err != nil {
		return w.sendFailed("send cgroup to init", err)
	}
	st := w.State
	if _, err := w.sync.Write([]byte{syncParent}); err != nil {
		return w.sendFailed("init", err)
	}
	// "exec", then EOF: the socket is close-on-exec, so execve succeeded.
	for execing := false; ; execing = true {
		op, err := w.reply()
		if errors.Is(err, io.EOF) && execing {
			break
		}
		if errors.Is(err, io.EOF) {
			return w.initFailed(errors.New("init exited before running the command"))
		}
		if err != nil {
			return err
		}
		if op != syncExec || execing {
			return w.initFailed(fmt.Errorf("init: unexpected message %q", op))
		}
	}
	if w.console != nil {
		if w.Console, err = recvFD(w.console); err != nil {
			return launchErr(ExitLaunchError, "receive pty: %w", err)
		}
	}
	st.Status = StatusRunning
	if err := w.l.Store.Save(st); err != nil {
		return launchErr(ExitLaunchError, "%w", err)
	}
	return nil
}

// reply reads the init's next message on the sync socket: syncExec, the
// init's own error as an *Error, io.EOF once it has gone, or a failure to
// read as the init's failure.
func (w *Workload) reply() (byte, error) {
	var op [1]byte
	if _, err := io.ReadFull(w.sync, op[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		return 0, w.initFailed(fmt.Errorf("init: %w", err))
	}
	if op[0] != syncError {
		return op[0], nil
	}
	var hdr [8]byte
	if _, err := io.ReadFull(w.sync, hdr[:]); err != nil {
		return 0, w.initFailed(fmt.Errorf("init: %w", err))
	}
	msg := make([]byte, min(binary.LittleEndian.Uint32(hdr[4:]), 1<<16))
	if _, err := io.ReadFull(w.sync, msg); err != nil {
		return 0, w.initFailed(fmt.Errorf("init: %w", err))
	}
	return syncError, &Error{Code: int(int32(binary.LittleEndian.Uint32(hdr[:4]))), Err: errors.New(string(msg))}
}

// sendFailed explains a write to the init that failed.
func (w *Workload) sendFailed(what string, err error) error {
	return w.orInitError(w.initFailed(fmt.Errorf("%s: %w", what, err)))
}

// orInitError returns the init's own error if it has sent one, else err.
// The init sets up its root while the launcher makes the network's host
// side and the cgroup: an init that failed there (a root filesystem
// refused) has said why and exited, and what the launcher then found
// missing (its namespaces, its end of the socket) is only a consequence.
// Before "parent" the init sends nothing but an error, so a readable
// socket holds one (or EOF).
func (w *Workload) orInitError(err error) error {
	fds := []unix.PollFd{{Fd: int32(w.sync.Fd()), Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds, 0); n > 0 {
		if op, rerr := w.reply(); op == syncError {
			return rerr
		}
	}
	return err
}

// stdioSet is the init's fds 0-2 and the files opened to make them.
type stdioSet struct {
	fds    [3]uintptr
	opened []*os.File
}

// stdioFiles turns Stdio into fds, /dev/null for the nil ones.
func stdioFiles(s Stdio) (stdioSet, error) {
	var set stdioSet
	for i, f := range []*os.File{s.Stdin, s.Stdout, s.Stderr} {
		if f == nil {
			var err error
			if f, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
				closeAll(set.opened)
				return set, err
			}
			set.opened = append(set.opened, f)
		}
		set.fds[i] = f.Fd()
	}
	return set, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// initFailed reports an init that died or broke the protocol.
func (w *Workload) initFailed(err error) error {
	if w.pid > 0 {
		_ = unix.Kill(w.pid, unix.SIGKILL)
		if ws, werr := w.reap(); werr == nil && ws.Signaled() && ws.Signal() != unix.SIGKILL {
			err = fmt.Errorf("%w (init killed by %v)", err, ws.Signal())
		} else if werr == nil && ws.Exited() {
			err = fmt.Errorf("%w (init exit status %d)", err, ws.ExitStatus())
		}
	}
	return &Error{Code: ExitLaunchError, Err: err}
}

// reap waits for the init and forgets its pid.
func (w *Workload) reap() (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(w.pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		w.pid = 0
		return ws, err
	}
}

// recvFD receives one fd sent with one byte; EOF is an error.
func recvFD(sock *os.File) (*os.File, error) {
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, io.EOF
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

// destroy removes all a failed launch made: the init, the cgroup, the
// state entry.
func (w *Workload) destroy() {
	for _, f := range []*os.File{w.Console, w.sync, w.console} {
		if f != nil {
			f.Close()
		}
	}
	if w.pid > 0 {
		_ = unix.Kill(w.pid, unix.SIGKILL)
		_, _ = w.reap()
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
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("signal %v: not a syscall signal", sig)
	}
	if err := unix.PidfdSendSignal(w.pidfd, s, nil, 0); err != nil {
		if err == unix.ESRCH {
			return os.ErrProcessDone
		}
		return err
	}
	return nil
}

// Wait waits for the workload to end, records its exit, and removes its
// cgroup (and with AutoRemove its state).
func (w *Workload) Wait() (ExitStatus, error) {
	var es ExitStatus
	ws, err := w.reap()
	if err != nil {
		return es, fmt.Errorf("wait for workload: %w", err)
	}
	if ws.Signaled() {
		es.Signal = ws.Signal()
		es.Code = 128 + int(es.Signal)
	} else {
		es.Code = ws.ExitStatus()
	}
	if n, err := w.cg.OOMKills(); err == nil && n > 0 {
		es.OOMKilled = true
	}
	return es, w.finish(es)
}

func (w *Workload) finish(es ExitStatus) error {
	// The network's release (its lock, record and the other workloads'
	// hosts files), the cgroup's removal (an rmdir per hierarchy, each
	// waiting on the kernel) and, with --rm, the state's removal touch
	// nothing of each other's: side by side, an exit is a millisecond or
	// two shorter.
	st := w.State
	netErr, rmErr := make(chan error, 1), make(chan error, 1)
	go func() { netErr <- w.net.Release(st) }()
	if st.AutoRemove {
		go func() {
			unlock, err := w.l.Store.Lock()
			if err == nil {
				err = w.l.Store.Remove(st.ID)
				unlock()
			}
			rmErr <- err
		}()
	}
	errs := []error{w.cg.Delete(), <-netErr}
	if st.AutoRemove {
		return errors.Join(append(errs, <-rmErr)...)
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

// checkUsernsRootfs checks that a workload with a user namespace owns its
// root filesystem: its root is an unprivileged host user (the mapping's
// HostID), which can neither create the mount points the launcher needs
// nor write anything in a tree the host's root owns. The tree must be
// owned by the mapped root (chown -R HOSTID:HOSTID, as podman's and
// docker's userns-remap storage does); nsagent does not shift it behind
// the user's back.
func checkUsernsRootfs(rootfs string, cfg *Config) error {
	if cfg.Namespaces.User != NSNew {
		return nil
	}
	root, ok := mapToHost(cfg.UIDMap, 0)
	groot, gok := mapToHost(cfg.GIDMap, 0)
	if !ok || !gok {
		return errors.New("--userns: the mappings must map root (ID 0) in the workload")
	}
	var st unix.Stat_t
	if err := unix.Stat(rootfs, &st); err != nil {
		return fmt.Errorf("root filesystem %s: %w", rootfs, err)
	}
	if int(st.Uid) != root || int(st.Gid) != groot {
		return fmt.Errorf("--userns: root filesystem %s is owned by %d:%d, not by the workload's root %d:%d on the host (chown -R %d:%d it, or use a copy)",
			rootfs, st.Uid, st.Gid, root, groot, root, groot)
	}
	// The init, already that user, binds the root filesystem by path.
	for d := filepath.Dir(rootfs); ; d = filepath.Dir(d) {
		if err := unix.Stat(d, &st); err != nil {
			return fmt.Errorf("root filesystem %s: %w", rootfs, err)
		}
		if st.Mode&0o001 == 0 && !(int(st.Uid) == root && st.Mode&0o100 != 0) && !(int(st.Gid) == groot && st.Mode&0o010 != 0) {
			return fmt.Errorf("--userns: root filesystem %s: %s (mode %o, %d:%d) cannot be searched by the workload's root %d on the host", rootfs, d, st.Mode&0o7777, st.Uid, st.Gid, root)
		}
		if d == "/" {
			return nil
		}
	}
}

// mapToHost maps an ID inside a user namespace to the host.
func mapToHost(m []IDMap, id int) (int, bool) {
	for _, r := range m {
		if id >= r.ContainerID && id < r.ContainerID+r.Size {
			return r.HostID + id - r.ContainerID, true
		}
	}
	return 0, false
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

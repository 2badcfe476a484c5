package launcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// initStep is one setup step the init runs, in order, inside the new
// namespaces and before it tells the launcher it is ready. The hardening
// issue (seccomp, capabilities, masked paths) adds its steps here and in
// execSteps.
type initStep struct {
	name string
	run  func(*initConfig) error
}

var initSteps = []initStep{
	// network first: joining a named namespace opens /run/netns, which
	// the root filesystem hides, and /sys is mounted for the namespace
	// the init is in.
	{"network", initNetwork},
	{"rootfs", setupRootfs},
	{"procfs", checkProcfs},
	{"hostname", setHostname},
	// The launcher's side of the network (Parent: the bridge's veth into
	// this namespace) runs while the init sets up its root; the command
	// must not start before it is done.
	{"parent", func(c *initConfig) error { return c.sync.expect("parent") }},
	{"console", setupConsole},
	{"paths", maskPaths},
	{"session", newSession},
}

// newSession puts a workload without a pty of its own in a new session,
// so that it has no controlling terminal: the caller's terminal, if its
// stdio is one, cannot be pushed input with TIOCSTI (which needs the
// terminal to be the caller's controlling one, or CAP_SYS_ADMIN).
func newSession(c *initConfig) error {
	if c.TTY {
		return nil // setupConsole made one around the new pty
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	return nil
}

// consoleFD is the console socket's fd in the init (with Config.TTY).
const consoleFD = initFD + 1

// setupConsole makes the workload's pty on its own devpts, sends the
// master to the launcher and makes the terminal the init's controlling
// terminal and stdio.
func setupConsole(c *initConfig) error {
	if !c.TTY {
		return nil
	}
	unix.CloseOnExec(consoleFD)
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer unix.Close(m)
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("pty number: %w", err)
	}
	t, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open pty: %w", err)
	}
	if err := unix.Fchown(t, c.UID, c.GID); err != nil {
		return fmt.Errorf("chown pty: %w", err)
	}
	if err := unix.Sendmsg(consoleFD, []byte{0}, unix.UnixRights(m), nil, 0); err != nil {
		return fmt.Errorf("send pty: %w", err)
	}
	unix.Close(consoleFD)
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if err := unix.IoctlSetInt(t, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup2(t, fd); err != nil {
			return err
		}
	}
	return unix.Close(t)
}

// initSync is the init's end of the sync socket.
type initSync struct {
	enc *json.Encoder
	dec *json.Decoder
}

// expect reads the launcher's next message, which must be op.
func (s *initSync) expect(op string) error {
	var msg syncMsg
	if err := s.dec.Decode(&msg); err != nil {
		return fmt.Errorf("wait for launcher: %w", err)
	}
	if msg.Op != op {
		return fmt.Errorf("launcher sent %q, want %q", msg.Op, op)
	}
	return nil
}

// fail reports err to the launcher and exits with code.
func (s *initSync) fail(code int, err error) {
	_ = s.enc.Encode(syncMsg{Op: "error", Code: code, Msg: err.Error()})
	os.Exit(code)
}

// Init is the workload's init: the launcher re-executes its own binary
// with the hidden `init` command, which calls this. It runs in the new
// namespaces (made by the clone flags of the launcher's fork, so the
// process was single-threaded when they were made), reads its config from
// fd 3, sets the workload up, moves itself into the workload's cgroup
// through the cgroup.procs fds it inherited, says "exec" and executes the
// command. Any failure goes back over fd 3 as a message and an exit
// status. Init does not return.
//
// The caller must have locked the main goroutine to the main thread in an
// init function (runtime.LockOSThread): the credentials, the cgroup
// namespace and the parent-death signal are set on this thread alone and
// carried by execve.
func Init() {
	// Non-dumpable until execve (which makes the command dumpable
	// again): no process of the workload can open this one's
	// /proc/PID/exe, mem or fds while it sets up (CVE-2019-5736 defence
	// in depth, with the sealed copy it runs from).
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// Whatever the init inherited beyond stdio (the sync and console
	// sockets, the cgroup.procs fds) must not reach the workload.
	_ = unix.CloseRange(initFD, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	sock := os.NewFile(initFD, "init-sync")
	s := &initSync{enc: json.NewEncoder(sock), dec: json.NewDecoder(sock)}
	// First the cgroup.procs fds (one byte carrying them), then the
	// config as JSON.
	cgfds, err := recvFDs(initFD)
	if err != nil {
		s.fail(ExitLaunchError, fmt.Errorf("init: receive cgroup: %w", err))
	}
	var ic initConfig
	if err := s.dec.Decode(&ic); err != nil {
		s.fail(ExitLaunchError, fmt.Errorf("init: read config: %w", err))
	}
	ic.sync, ic.CgroupFDs = s, cgfds
	// Read while /proc is the host's: the root filesystem never gets a
	// say in which capabilities are dropped.
	ic.lastCap = lastCap()
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	for _, st := range initSteps {
		if err := st.run(&ic); err != nil {
			s.fail(ExitLaunchError, fmt.Errorf("%s: %w", st.name, err))
		}
	}
	env := workloadEnv(&ic.Config)
	path, code, err := lookPath(ic.Args[0], env)
	if err != nil {
		s.fail(code, err)
	}
	// The last steps before execve. The Go init ran so far outside the
	// limited cgroup, so its runtime's memory and threads stay charged to
	// the launcher's cgroup; from here on everything is the workload's.
	// "0" is the writer itself (its pid in this pid namespace is 1). In
	// v1 a move ignores pids.max, so a Go runtime with more threads than
	// the limit still gets in.
	for _, fd := range ic.CgroupFDs {
		if _, err := unix.Write(fd, []byte("0")); err != nil {
			s.fail(ExitLaunchError, fmt.Errorf("join cgroup: %w", err))
		}
		unix.Close(fd)
	}
	if ic.Namespaces.Cgroup == NSNew {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			s.fail(ExitLaunchError, fmt.Errorf("cgroup namespace: %w", err))
		}
	}
	if ic.Cwd != "" {
		if err := unix.Chdir(ic.Cwd); err != nil {
			s.fail(ExitLaunchError, fmt.Errorf("working directory %s: %w", ic.Cwd, err))
		}
	}
	if err := checkCwd(); err != nil {
		s.fail(ExitLaunchError, fmt.Errorf("working directory %s: %w", ic.Cwd, err))
	}
	if err := confine(&ic, s); err != nil {
		s.fail(ExitLaunchError, err)
	}
	err = unix.Exec(path, ic.Args, env)
	code = ExitCannotExecute
	if errors.Is(err, unix.ENOENT) {
		code = ExitNotFound
	}
	if errors.Is(err, unix.EPERM) && ic.SeccompProg != nil {
		err = fmt.Errorf("%w: the seccomp profile %s refused execve", err, ic.SeccompMode())
	}
	s.fail(code, fmt.Errorf("exec %s: %w", ic.Args[0], err))
}

// checkCwd refuses a working directory outside the process's root
// (CVE-2024-21626: a leaked fd of a host directory given as -w
// /proc/self/fd/N): the kernel's getcwd names such a directory
// "(unreachable)/...", never an absolute path.
func checkCwd() error {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Getcwd(buf)
	if err != nil {
		return fmt.Errorf("getcwd: %w", err)
	}
	if n == 0 || buf[0] != '/' {
		return errors.New("outside the workload's root")
	}
	return nil
}

// recvFDs reads one byte and the fds sent with it (close-on-exec).
func recvFDs(sock int) ([]int, error) {
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(16*4))
	_, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		f, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return nil, err
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

// confine drops what the command must not have, on this thread (execve
// follows from it): the capabilities outside ic.Caps (bounding set,
// inheritable and ambient cleared), the user, no_new_privs, and the
// seccomp filter — installed last but one, so nothing the init still does
// needs the profile's leave, the "exec" message being the last syscall
// before execve. Without no_new_privs the filter needs CAP_SYS_ADMIN, so
// then it goes in before the capabilities are dropped, as runc does.
func confine(ic *initConfig, s *initSync) error {
	keep := capMask(ic.Caps)
	if !ic.NoNewPrivs {
		if err := loadSeccomp(ic.SeccompProg); err != nil {
			return err
		}
	}
	for c := 0; c <= ic.lastCap; c++ {
		if keep&(1<<uint(c)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if err := setUser(ic.UID, ic.GID); err != nil {
		return err
	}
	// Root keeps the set (and gets it again from the bounding set at
	// execve); another user has none left after setresuid, as with
	// docker. Nothing is inheritable.
	if ic.UID == 0 {
		// What nsagent itself lacks (a host may withhold some from
		// everyone, CAP_SYS_RESOURCE here) it cannot pass on, even to
		// --privileged.
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var cur [2]unix.CapUserData
		if err := unix.Capget(&hdr, &cur[0]); err != nil {
			return fmt.Errorf("get capabilities: %w", err)
		}
		keep &= uint64(cur[0].Permitted) | uint64(cur[1].Permitted)<<32
		data := [2]unix.CapUserData{
			{Effective: uint32(keep), Permitted: uint32(keep)},
			{Effective: uint32(keep >> 32), Permitted: uint32(keep >> 32)},
		}
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("set capabilities: %w", err)
		}
	}
	if ic.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
	}
	if err := s.enc.Encode(syncMsg{Op: "exec"}); err != nil {
		os.Exit(ExitLaunchError) // the launcher is gone
	}
	if ic.NoNewPrivs {
		if err := loadSeccomp(ic.SeccompProg); err != nil {
			return err
		}
	}
	return nil
}

// lastCap is the highest capability the kernel knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return len(capNames) - 1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return len(capNames) - 1
	}
	return n
}

// setUser sets the workload's credentials on this thread only (raw
// syscalls, not Go's all-threads setuid): execve follows on this thread
// and the other threads die with it.
func setUser(uid, gid int) error {
	if uid == 0 && gid == 0 {
		return nil
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setgid %d: %w", gid, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setuid %d: %w", uid, e)
	}
	// A credential change clears the parent-death signal.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	return nil
}

func setHostname(c *initConfig) error {
	if c.Namespaces.UTS != NSNew || c.Hostname == "" {
		return nil
	}
	return unix.Sethostname([]byte(c.Hostname))
}

// workloadEnv is -e plus a default PATH and HOME, as docker gives.
func workloadEnv(c *Config) []string {
	env := append([]string(nil), c.Env...)
	has := func(k string) bool {
		for _, e := range env {
			if strings.HasPrefix(e, k+"=") {
				return true
			}
		}
		return false
	}
	if !has("PATH") {
		env = append(env, DefaultPath)
	}
	if !has("HOSTNAME") && c.Hostname != "" {
		env = append(env, "HOSTNAME="+c.Hostname)
	}
	if !has("HOME") {
		home := "/"
		if c.UID == 0 {
			home = "/root"
		}
		env = append(env, "HOME="+home)
	}
	return env
}

// lookPath finds the command in the workload's root (the init has pivoted
// into it) the way execvp does, telling "not found" (127) from "found but
// not executable" (126).
func lookPath(file string, env []string) (string, int, error) {
	if strings.Contains(file, "/") {
		code, err := checkExecutable(file)
		if err != nil {
			return "", code, fmt.Errorf("exec %s: %w", file, err)
		}
		return file, 0, nil
	}
	pathVar := strings.TrimPrefix(DefaultPath, "PATH=")
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathVar = v
		}
	}
	var denied error
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		code, err := checkExecutable(p)
		if err == nil {
			return p, 0, nil
		}
		if code == ExitCannotExecute && denied == nil {
			denied = fmt.Errorf("exec %s: %s: %w", file, p, err)
		}
	}
	if denied != nil {
		return "", ExitCannotExecute, denied
	}
	return "", ExitNotFound, fmt.Errorf("exec %s: executable file not found in the root filesystem's PATH (%s)", file, pathVar)
}

func checkExecutable(p string) (int, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return ExitNotFound, errors.New("no such file or directory")
	}
	if err != nil {
		return ExitCannotExecute, err
	}
	if fi.IsDir() {
		return ExitCannotExecute, errors.New("is a directory")
	}
	if fi.Mode()&0o111 == 0 {
		return ExitCannotExecute, errors.New("permission denied")
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return ExitCannotExecute, fmt.Errorf("not executable: %w", err)
	}
	return 0, nil
}

// errnoIs reports whether err is the errno e.
func errnoIs(err error, e syscall.Errno) bool { return errors.Is(err, e) }

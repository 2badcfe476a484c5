// Package nsenter is nsagent's C that runs before the Go runtime starts,
// from the binary's constructor: the workload's init (nsinit.c, `nsagent
// init` as the launcher starts it) and the joining of a running
// workload's cgroup and namespaces for `nsagent exec` (nsenter.c). Both
// give the command its confinement the same way (confine.c). Before
// either, `nsagent launch` moves to the launch-only build of the binary
// when there is one (fastlaunch.c, see fastlaunch.go).
//
// The init is C for its start-up time: it runs in the new namespaces,
// sets up the root filesystem and execve's the command in about a
// millisecond of its own, where the binary's Go runtime and package
// inits cost about 20 before a Go init could begin (see the launcher
// package doc). Its config comes over fd 3 as records the launcher wrote
// (launcher/initwire_linux.go), its errors go back the same way, and it
// never reaches Go: it execve's the command or exits.
//
// setns(2) into a mount or user namespace is refused to a multi-threaded
// process, and the Go runtime has started threads before main runs. So the
// joining is done by a C constructor (runc's nsexec does the same): when
// the binary is started with _NSAGENT_NSENTER_PID in its environment, the
// constructor runs before the runtime, writes its pid into the workload's
// cgroup.procs files, opens the workload's /proc/PID/ns/* entries, setns
// into each (user first, mount last), forks (a pid namespace is entered by
// children only), and the child executes the command while the parent
// waits for it, forwards the signals it is sent, and exits with its
// status (128+N when signal N killed it). The process never reaches Go.
//
// The child gets the workload's confinement before execve, as runc exec
// does (EnvCaps, EnvNoNewPrivs, EnvSeccomp): every fd above stdio closed,
// the working directory checked to be inside the workload's root, the
// capability sets cut, no_new_privs and the seccomp filter last.
//
// Importing this package (for its side effect) is all a binary needs; it
// requires cgo.
//
// `make build` links the binary statically (scripts/build.sh): a
// dynamically linked cgo binary pays the dynamic loader and libc's
// relocations on every start, and nsagent starts twice per launch and
// exec.
package nsenter

/*
#cgo CFLAGS: -Wall -O2
extern void nsagent_fastlaunch(int argc, char **argv, char **envp);
extern void nsagent_init(int argc, char **argv);
extern void nsagent_nsenter(int argc, char **argv, char **envp);
void __attribute__((constructor)) nsagent_nsenter_init(int argc, char **argv, char **envp) {
	nsagent_fastlaunch(argc, argv, envp);
	nsagent_init(argc, argv);
	nsagent_nsenter(argc, argv, envp);
}
*/
import "C"

// Env names the variables the constructor reads.
const (
	// EnvInit marks `nsagent init`, the workload's init (nsinit.c): the
	// launcher sets it in the init's otherwise empty environment.
	EnvInit = "_NSAGENT_INIT"
	// EnvPid is the workload's init pid in the caller's pid namespace.
	EnvPid = "_NSAGENT_NSENTER_PID"
	// EnvCgroupProcs lists cgroup.procs files to join, colon-separated.
	EnvCgroupProcs = "_NSAGENT_NSENTER_CGROUP"
	// EnvCwd is the working directory in the workload.
	EnvCwd = "_NSAGENT_NSENTER_CWD"
	// EnvUser is UID:GID to run the command as.
	EnvUser = "_NSAGENT_NSENTER_USER"
	// EnvConsole is the fd of a unix socket (exec -t): the command gets
	// a new pty made on the workload's own devpts, as its controlling
	// terminal in a new session, and the master is sent over the socket.
	EnvConsole = "_NSAGENT_NSENTER_CONSOLE"
	// EnvCaps is the capability set the command keeps, a hexadecimal
	// mask: the bounding set is cut to it, and root's permitted and
	// effective sets are it; nothing is inheritable or ambient.
	EnvCaps = "_NSAGENT_NSENTER_CAPS"
	// EnvNoNewPrivs is "1" to set no_new_privs.
	EnvNoNewPrivs = "_NSAGENT_NSENTER_NNP"
	// EnvSeccomp is the host path of the workload's compiled seccomp
	// program (raw BPF), read before the mount namespace is joined and
	// installed right before execve.
	EnvSeccomp = "_NSAGENT_NSENTER_SECCOMP"
)

// Marker is argv[1] of a process started to enter a workload; the
// command follows argv[2].
const Marker = "__nsenter"

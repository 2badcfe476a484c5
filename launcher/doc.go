// Package launcher runs a workload in namespaces and a cgroup of its own
// and keeps track of it: `nsagent launch` and its lifecycle commands (ps,
// exec, kill, rm, gc, logs) are thin layers over it.
//
// # What it owns
//
// The cgroups under its parent (by default /nsagent, always absolute from
// the hierarchy root, never relative to the caller's cgroup, which here is
// the machine supervisor's), the state directory (by default /run/nsagent:
// STATE/ID/state.json written by rename, STATE/.names/NAME -> ID
// symlinks indexing the names, a lock file serialising name claims,
// STATE/cache/rootfs for unpacked tarballs), and the processes it
// started. It touches nothing else; a workload's mounts live in its own
// mount namespace and die with it.
//
// # How a workload starts (the re-exec init pattern)
//
// The launcher validates the Config (a list of check functions), records
// the workload and starts its own binary again (a sealed view of it, see
// below) as the hidden `nsagent init`, with clone flags for the new PID,
// mount, UTS, IPC and network (and optionally user) namespaces: the
// namespaces are made by the kernel while the child is still
// single-threaded. The init is C (package nsenter, nsinit.c), run by the
// binary's constructor before the Go runtime starts: it is one thread
// from its exec to the command's, and it starts in about a millisecond
// where the binary's Go runtime and package inits took about 20 (measured
// with sched tracepoints: the Go init reached pivot_root 21-23 ms after
// its exec; launches went from 0.79x runc's time to the figure in
// scripts/bench/launch.sh's output). The launcher writes the workload's
// files and takes its network address first, starts the init and sends it
// over the inherited socket (fd 3) its config as records
// (initwire_linux.go: the launcher resolves everything it can —
// environment, overlay options, which binds are directories — so the init
// only makes system calls). While the init builds the root filesystem,
// the launcher runs the network's host side (Network.Parent) and makes
// the cgroup, then sends the fds of the cgroup's cgroup.procs files and
// says "parent". The init joins a named network namespace or brings lo
// up, builds the root filesystem and pivots into it, checks /proc, sets
// the hostname, masks paths, waits for "parent", makes the console,
// finds the command, and
// as its very last steps writes itself into the workload's cgroup
// through the fds it was given, unshares its cgroup namespace (so its
// cgroup is the namespace's root), drops capabilities, sets its user and
// no_new_privs, says "exec", loads the seccomp filter and execve's; any
// failure is sent back as a coded error (125 setup, 126 not executable,
// 127 not found). The socket is close-on-exec: "exec" then EOF tells the
// launcher the command runs. There is no round trip between "ready" and
// "go": each one is a scheduler hand-off, which on a busy machine costs
// more than the work.
//
// Joining the cgroup last means what the init used stays charged where it
// was made (the launcher's cgroup): that is what lets `--mem 4M` run an
// interactive shell, and v1 does not apply pids.max to a moved process.
//
// The cgroup is written directly (cgroup_linux.go says why not through
// containerd/cgroups), and the binary is linked statically
// (scripts/build.sh): both cut what every start of the binary pays. The
// launcher itself runs in a launch-only build of the binary that the
// binary carries and the constructor starts (package nsenter,
// fastlaunch.go): the agent's package inits are no part of a launch.
//
// Networking and hardening plug in here: a Network (bridge, the default;
// none; host; ns:NAME) has launcher-side Prepare and Parent hooks, the
// init's part as data (InitNet: lo up, a namespace to join) and Release;
// package bridge holds the bridge's links, IPAM and nftables rules. A
// hardening step is a record the launcher sends and a step of nsinit.c.
//
// # The binary the workload could reach (CVE-2019-5736)
//
// The init (until it execve's) and the exec helper (for as long as its
// command runs) are nsagent processes in or next to the workload: a
// process there that opens their /proc/PID/exe for writing must not
// reach the host's binary. They are not started from /proc/self/exe but
// from SealedSelf: the binary opened through a private overlayfs mount
// of its directory with no upper layer, made with fsopen/fsmount and
// attached to no mount namespace (runc's choice since 1.2). It is
// read-only for good — nothing can remount it, it is visible in no
// namespace — and costs a few syscalls. Where the overlay cannot be made
// (no overlayfs or new mount API, or the binary's directory holds the
// state directory: overlay refuses overlapping layers) the fallback is a
// memfd copy sealed against writes, growing and shrinking. That copy was
// measured: a launch median of 117 ms against 93 ms without it (15
// paired runs, load 5.5 on 2 cores): 24 MB through shmem per launch is
// too much to be the default, and a copy cached on disk would be a
// file the next launches trust that a workload with CAP_LINUX_IMMUTABLE
// could change. The overlay measured 130 ms against 136 ms (21 paired
// runs, load 3.4) and 76 ms against 88 ms (21 more, load 1.8): no cost
// within the noise; exec, 54 ms against 57 ms. Both also make themselves
// non-dumpable until execve, so that no process of the workload can open
// their /proc/PID files meanwhile.
//
// # What the workload inherits
//
// No fd beyond stdio: the init marks every other one close-on-exec, the
// exec helper closes them before it resolves the working directory, and
// both refuse a working directory outside the root, which getcwd names
// "(unreachable)..." (CVE-2016-9962, CVE-2024-21626: a leaked host
// directory fd given as -w /proc/self/fd/N).
//
// # A root filesystem's /proc is not trusted
//
// The kernel filesystems (/proc, /sys, /dev and its pts and shm) are
// mounted only on targets that are no symlink of the root filesystem,
// and right after pivot_root the init checks with statfs that /proc and
// /proc/self/fd are procfs (PROC_SUPER_MAGIC) before it masks, binds or
// resolves anything under them: a fake tree left there (by a volume, or
// a symlink to a directory of the image) is refused, not written
// through. The bounding set is cut capability by capability up to the
// first number the kernel refuses (EINVAL): the root filesystem's /proc
// never has a say in it.
//
// # User namespaces (--userns)
//
// With --userns=HOSTID:SIZE the workload's IDs 0..SIZE-1 are the host's
// HOSTID.. (uid_map and gid_map written by the fork), and the init sets
// its IDs to 0 in the new namespace before execve, or it would stay the
// host's root — unmapped there — and lose every capability. Its root is
// an unprivileged host user: it cannot create the mount points it needs
// in, nor write to, a tree the host's root owns. So the root filesystem
// must be owned by the mapped root (chown -R HOSTID:HOSTID, or an
// idmapped copy) and reachable by it; Launch checks both before anything
// is made and names the fix. nsagent does not shift a tree itself.
//
// # Joining a running workload (exec)
//
// setns(2) into a mount or user namespace is refused to a multi-threaded
// process, and a Go process is multi-threaded before main. `nsagent exec`
// therefore re-executes the binary with a marker the C constructor of
// package nsenter recognises: it runs before the Go runtime, joins the
// workload's cgroup (host paths, before the mount namespace changes what
// they mean) and namespaces, forks into the PID namespace and executes the
// command, waiting for it and passing its status on. The command gets the
// workload's confinement as runc exec gives it: the workload's capability
// sets, no_new_privs, and the seccomp program the launcher saved as
// STATE/ID/seccomp.bpf, installed right before execve.
//
// # Lifecycle
//
// A foreground launch waits for its workload; `-d` hands the same work
// to a monitor process in a session of its own that logs the output. The
// init has a parent-death signal: if the launcher is killed the workload
// dies, ps shows it dead, and GC removes its cgroup and state.
package launcher

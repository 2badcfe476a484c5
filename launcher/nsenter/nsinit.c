// The workload's init (see nsenter.go and the launcher package doc): run
// by the constructor when the binary is started as `nsagent init` by the
// launcher, in the namespaces the launcher's clone flags made, before the
// Go runtime exists. It reads its config from fd 3 (the sync socket),
// sets up the root filesystem, waits for the launcher's "parent", gives
// itself the workload's confinement, joins the workload's cgroup, says
// "exec" and execve's. Any failure goes back over fd 3 as a coded message
// (125 setup, 126 cannot execute, 127 not found) and ends the process.
// The wire format is written by the launcher (initwire.go).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include "confine.h"

#define SYNC_FD 3
#define CONSOLE_FD 4

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// The exit statuses of launcher/errors.go.
enum { EXIT_LAUNCH = 125, EXIT_CANNOT_EXECUTE = 126, EXIT_NOT_FOUND = 127 };

// The bind flags of a 'B' record (initwire.go).
enum { BIND_RO = 1, BIND_CREATE = 2, BIND_DIR = 4, BIND_VOLUME = 8 };

struct bind {
	char *src, *target;
	int flags;
};

static struct {
	char *rootfs, *overlay_target, *overlay_opts, *hostname, *netns, *cwd, *seccomp_mode;
	int lo_up, read_only, privileged, tty, nnp, cgroupns;
	unsigned uid, gid;
	unsigned long long caps;
	struct sock_fprog prog;
	struct bind *binds;
	int nbinds;
	char **argv, **envp;
	int argc, envc;
} cfg;

static const char *step = "init";
static int cgroup_fds[16], ncgroup_fds;

// errstr is strerror in Go's spelling (lower case first letter), so that
// the launcher's messages read alike whichever side failed.
static const char *errstr(int e) {
	static char buf[128];
	snprintf(buf, sizeof buf, "%s", strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] += 'a' - 'A';
	return buf;
}

static int write_full(int fd, const void *p, size_t n) {
	const char *b = p;
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= w;
	}
	return 0;
}

static int read_full(int fd, void *p, size_t n) {
	char *b = p;
	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EPIPE;
			return -1;
		}
		b += r;
		n -= r;
	}
	return 0;
}

// send_error sends msg with code to the launcher ("e", int32 code, uint32
// length, the message), if it is still there, and exits.
static void __attribute__((noreturn)) send_error(int code, const char *msg) {
	uint32_t len = strlen(msg);
	int32_t c = code;
	char hdr[9];
	hdr[0] = 'e';
	memcpy(hdr + 1, &c, 4);
	memcpy(hdr + 5, &len, 4);
	// A launcher that is gone has given this init up (a launch refused
	// after the fork: a name in use, a subnet that overlaps) or died (the
	// parent-death signal follows): nobody is left to tell, and the
	// workload's stderr is not the place, so the init ends quietly.
	if (write_full(SYNC_FD, hdr, sizeof hdr) == 0)
		write_full(SYNC_FD, msg, len);
	_exit(code);
}

// fail sends "STEP: MESSAGE" with code to the launcher and exits.
static void __attribute__((noreturn, format(printf, 2, 3))) fail(int code, const char *fmt, ...) {
	char msg[4096];
	int n = snprintf(msg, sizeof msg, "%s: ", step);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof msg - n, fmt, ap);
	va_end(ap);
	send_error(code, msg);
}

static void *xmalloc(size_t n) {
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		fail(EXIT_LAUNCH, "out of memory");
	return p;
}

// recv_cgroup_fds reads the one byte that carries the fds of the
// workload cgroup's cgroup.procs files (close-on-exec).
static void recv_cgroup_fds(void) {
	char byte, buf[CMSG_SPACE(sizeof cgroup_fds)];
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
	ssize_t n;
	do
		n = recvmsg(SYNC_FD, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		fail(EXIT_LAUNCH, "receive cgroup: %s", n < 0 ? errstr(errno) : "launcher closed the socket");
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && ncgroup_fds < (int)(sizeof cgroup_fds / sizeof cgroup_fds[0]); i++)
			memcpy(&cgroup_fds[ncgroup_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
}

// push appends p to the NULL-terminated vector *v of *n entries.
static void push(char ***v, int *n, char *p) {
	*v = realloc(*v, (*n + 2) * sizeof(char *));
	if (*v == NULL)
		fail(EXIT_LAUNCH, "out of memory");
	(*v)[(*n)++] = p;
	(*v)[*n] = NULL;
}

// read_config reads the launcher's config: a little-endian uint32 length
// and that many bytes of records, up to 'Z', in one read. The records
// are used where they lie: the launcher ends each string with a NUL.
static void read_config(void) {
	uint32_t total;
	if (read_full(SYNC_FD, &total, 4) < 0)
		fail(EXIT_LAUNCH, "read config: %s", errstr(errno));
	if (total > (64U << 20))
		fail(EXIT_LAUNCH, "read config: %u bytes", total);
	char *buf = xmalloc(total), *end = buf + total, *cur = buf;
	if (read_full(SYNC_FD, buf, total) < 0)
		fail(EXIT_LAUNCH, "read config: %s", errstr(errno));
	for (;;) {
		if (end - cur < 5)
			fail(EXIT_LAUNCH, "read config: truncated");
		unsigned char tag = (unsigned char)*cur;
		uint32_t len;
		memcpy(&len, cur + 1, 4);
		char *v = cur + 5;
		if (len > (uint32_t)(end - v))
			fail(EXIT_LAUNCH, "read config: record of %u bytes past the end", len);
		cur = v + len;
		// A string record ends with its NUL (a bind holds two strings
		// after its flags byte, an overlay two strings).
		int str = strchr("ROHJDMBAE", tag) != NULL;
		if (str && (len == 0 || v[len - 1] != 0))
			fail(EXIT_LAUNCH, "read config: record %c is not a string", tag);
		switch (tag) {
		case 'Z': goto done;
		case 'R': cfg.rootfs = v; break;
		case 'O': // target NUL options NUL
			cfg.overlay_target = v;
			cfg.overlay_opts = v + strlen(v) + 1;
			if (cfg.overlay_opts >= v + len)
				fail(EXIT_LAUNCH, "read config: bad overlay record");
			break;
		case 'H': cfg.hostname = v; break;
		case 'J': cfg.netns = v; break;
		case 'D': cfg.cwd = v; break;
		case 'M': cfg.seccomp_mode = v; break;
		case 'L': cfg.lo_up = 1; break;
		case 'r': cfg.read_only = 1; break;
		case 'P': cfg.privileged = 1; break;
		case 'T': cfg.tty = 1; break;
		case 'N': cfg.nnp = 1; break;
		case 'G': cfg.cgroupns = 1; break;
		case 'U':
			if (len != 8)
				fail(EXIT_LAUNCH, "read config: bad user record");
			memcpy(&cfg.uid, v, 4);
			memcpy(&cfg.gid, v + 4, 4);
			break;
		case 'K':
			if (len != 8)
				fail(EXIT_LAUNCH, "read config: bad capabilities record");
			memcpy(&cfg.caps, v, 8);
			break;
		case 'S':
			if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
				fail(EXIT_LAUNCH, "seccomp program is not a whole number of instructions");
			cfg.prog.len = len / sizeof(struct sock_filter);
			cfg.prog.filter = (struct sock_filter *)v;
			break;
		case 'B': { // flags, source NUL, target NUL
			char *target = v + 1 + strlen(v + 1) + 1;
			if (len < 3 || target >= v + len)
				fail(EXIT_LAUNCH, "read config: bad bind record");
			cfg.binds = realloc(cfg.binds, (cfg.nbinds + 1) * sizeof *cfg.binds);
			if (cfg.binds == NULL)
				fail(EXIT_LAUNCH, "out of memory");
			cfg.binds[cfg.nbinds++] = (struct bind){.src = v + 1, .target = target, .flags = (unsigned char)v[0]};
			break;
		}
		case 'A': push(&cfg.argv, &cfg.argc, v); break;
		case 'E': push(&cfg.envp, &cfg.envc, v); break;
		default:
			fail(EXIT_LAUNCH, "read config: unknown record %#x", tag);
		}
	}
done:
	if (cfg.argc == 0)
		fail(EXIT_LAUNCH, "read config: no command");
	if (cfg.envp == NULL) {
		static char *none[] = {NULL};
		cfg.envp = none;
	}
	if (cfg.rootfs == NULL && cfg.overlay_target == NULL)
		fail(EXIT_LAUNCH, "read config: no root filesystem");
}

// ---- network ----------------------------------------------------------

static void init_network(void) {
	step = "network";
	if (cfg.netns) {
		int fd = open(cfg.netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail(EXIT_LAUNCH, "open network namespace %s: %s", cfg.netns, errstr(errno));
		if (setns(fd, CLONE_NEWNET) < 0)
			fail(EXIT_LAUNCH, "join network namespace %s: %s", cfg.netns, errstr(errno));
		close(fd);
	}
	if (cfg.lo_up) {
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			fail(EXIT_LAUNCH, "set lo up: %s", errstr(errno));
		struct ifreq ifr;
		memset(&ifr, 0, sizeof ifr);
		strcpy(ifr.ifr_name, "lo");
		if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
			fail(EXIT_LAUNCH, "find lo: %s", errstr(errno));
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			fail(EXIT_LAUNCH, "set lo up: %s", errstr(errno));
		close(s);
	}
}

// ---- the root filesystem ----------------------------------------------
//
// Every target inside the root filesystem is resolved with openat2 and
// RESOLVE_IN_ROOT and mounted on through /proc/self/fd, so a symlink in
// the root filesystem can never point a mount at a host path.

static int rootfd = -1;

static const char *fdpath(int fd) {
	static char buf[2][32];
	static int i;
	i ^= 1;
	snprintf(buf[i], sizeof buf[i], "/proc/self/fd/%d", fd);
	return buf[i];
}

static const char *rel(const char *p) {
	while (*p == '/')
		p++;
	return *p ? p : ".";
}

// r_open resolves p inside the root to an O_PATH fd, or fails.
static int r_try_open(const char *p, unsigned long long flags) {
	struct open_how how = {.flags = O_PATH | O_CLOEXEC | flags, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	return syscall(SYS_openat2, rootfd, rel(p), &how, sizeof how);
}

static int r_open(const char *p, unsigned long long flags) {
	int fd = r_try_open(p, flags);
	if (fd < 0)
		fail(EXIT_LAUNCH, "resolve %s in root: %s", p, errstr(errno));
	return fd;
}

// r_mkdir_all makes directory p and its parents inside the root and
// returns an O_PATH fd of it. p is absolute and clean (the launcher's
// targets are filepath.Clean'ed).
static int r_mkdir_all(const char *p) {
	int fd = r_try_open(p, O_DIRECTORY);
	if (fd >= 0)
		return fd;
	fd = dup(rootfd);
	if (fd < 0)
		fail(EXIT_LAUNCH, "dup root: %s", errstr(errno));
	char cur[PATH_MAX] = "";
	const char *s = rel(p);
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char comp[NAME_MAX + 1];
		if (n == 0 || n > NAME_MAX || strlen(cur) + n + 2 > sizeof cur)
			fail(EXIT_LAUNCH, "bad path %s", p);
		memcpy(comp, s, n);
		comp[n] = 0;
		strcat(cur, "/");
		strcat(cur, comp);
		int nfd = r_try_open(cur, O_DIRECTORY);
		if (nfd < 0 && errno == ENOENT) {
			if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST)
				fail(EXIT_LAUNCH, "mkdir %s in root: %s", cur, errstr(errno));
			nfd = r_try_open(cur, O_DIRECTORY);
		}
		if (nfd < 0)
			fail(EXIT_LAUNCH, "resolve %s in root: %s", cur, errstr(errno));
		close(fd);
		fd = nfd;
		s += n;
		while (*s == '/')
			s++;
	}
	return fd;
}

// r_mkfile makes an empty file p (and its parents) inside the root to
// mount a file on, and returns an O_PATH fd of it.
static int r_mkfile(const char *p) {
	int fd = r_try_open(p, 0);
	if (fd >= 0)
		return fd;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", p);
	char *slash = strrchr(dir, '/');
	const char *base = p + (slash - dir) + 1;
	if (slash == dir)
		dir[1] = 0;
	else
		*slash = 0;
	int dfd = r_mkdir_all(dir);
	// O_PATH fds cannot be used with openat to create: reopen the dir.
	int d = openat(dfd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (d < 0)
		fail(EXIT_LAUNCH, "open %s in root: %s", dir, errstr(errno));
	int f = openat(d, base, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
	if (f < 0 && errno != EEXIST)
		fail(EXIT_LAUNCH, "create %s in root: %s", p, errstr(errno));
	if (f >= 0)
		close(f);
	close(d);
	close(dfd);
	return r_open(p, 0);
}

// r_no_symlink fails if p exists in the root and is, or is reached
// through, a symlink.
static void r_no_symlink(const char *p) {
	struct open_how how = {.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS};
	int fd = syscall(SYS_openat2, rootfd, rel(p), &how, sizeof how);
	if (fd < 0 && errno == ENOENT)
		return;
	if (fd < 0 && errno == ELOOP)
		fail(EXIT_LAUNCH, "root filesystem's %s is a symlink: refusing to mount on it", p);
	if (fd < 0)
		fail(EXIT_LAUNCH, "resolve %s in root: %s", p, errstr(errno));
	struct stat st;
	int r = fstat(fd, &st);
	close(fd);
	if (r == 0 && S_ISLNK(st.st_mode))
		fail(EXIT_LAUNCH, "root filesystem's %s is a symlink: refusing to mount on it", p);
}

// r_mount mounts a filesystem on directory target inside the root. The
// target must not be, or pass through, a symlink of the root filesystem.
// It returns the mount's errno (0 on success) when soft is set.
static int r_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data,
                   int soft) {
	r_no_symlink(target);
	int fd = r_mkdir_all(target);
	int r = mount(source, fdpath(fd), fstype, flags, data);
	int e = errno;
	close(fd);
	if (r < 0 && soft)
		return e;
	if (r < 0)
		fail(EXIT_LAUNCH, "mount %s on %s: %s", fstype, target, errstr(e));
	return 0;
}

// remount_ro makes the bind mount at p read-only, keeping the flags the
// kernel locks on it (nosuid, nodev, noexec) as they are.
static void remount_ro(const char *p, const char *name) {
	struct statfs sfs;
	if (statfs(p, &sfs) < 0)
		fail(EXIT_LAUNCH, "remount %s read-only: %s", name, errstr(errno));
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
	static const struct {
		unsigned long st, ms;
	} keep[] = {{ST_NOSUID, MS_NOSUID},   {ST_NODEV, MS_NODEV},         {ST_NOEXEC, MS_NOEXEC},
	            {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME}};
	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
		if (sfs.f_flags & keep[i].st)
			flags |= keep[i].ms;
	if (mount("", p, NULL, flags, NULL) < 0)
		fail(EXIT_LAUNCH, "remount %s read-only: %s", name, errstr(errno));
}

static void bind_on(const char *src, int fd, const char *target, int ro) {
	if (mount(src, fdpath(fd), NULL, MS_BIND | MS_REC, NULL) < 0)
		fail(EXIT_LAUNCH, "bind %s on %s: %s", src, target, errstr(errno));
	if (!ro)
		return;
	// fd still names what lies under the new mount: resolve the target
	// again to reach the bind mount itself.
	int mfd = r_open(target, 0);
	remount_ro(fdpath(mfd), target);
	close(mfd);
}

// r_bind binds host path src onto target in the root: a directory, or a
// file (created if BIND_CREATE, else a missing target is skipped: a
// read-only root filesystem without /etc/hosts gets none).
static void r_bind(const char *src, const char *target, int flags) {
	int fd;
	if (flags & BIND_DIR) {
		fd = r_mkdir_all(target);
	} else if (flags & BIND_CREATE) {
		fd = r_mkfile(target);
	} else {
		fd = r_try_open(target, 0);
		if (fd < 0 && errno == ENOENT)
			return;
		if (fd < 0)
			fail(EXIT_LAUNCH, "resolve %s in root: %s", target, errstr(errno));
	}
	bind_on(src, fd, target, flags & BIND_RO);
	close(fd);
}

// The nodes bound from the host's /dev (bound rather than made with mknod,
// so the same code works in a user namespace).
static const char *devices[] = {"null", "zero", "full", "random", "urandom", "tty"};

static void mount_dev(void) {
	r_mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", 0);
	for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
		char p[32];
		snprintf(p, sizeof p, "/dev/%s", devices[i]);
		r_bind(p, p, BIND_CREATE);
	}
	r_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", 0);
	r_mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k", 0);
	int dfd = r_open("/dev", O_DIRECTORY);
	int d = openat(dfd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (d < 0)
		fail(EXIT_LAUNCH, "open /dev: %s", errstr(errno));
	static const char *links[][2] = {{"ptmx", "pts/ptmx"},
	                                 {"fd", "/proc/self/fd"},
	                                 {"stdin", "/proc/self/fd/0"},
	                                 {"stdout", "/proc/self/fd/1"},
	                                 {"stderr", "/proc/self/fd/2"}};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (symlinkat(links[i][1], d, links[i][0]) < 0)
			fail(EXIT_LAUNCH, "symlink /dev/%s: %s", links[i][0], errstr(errno));
	close(d);
	close(dfd);
}

// pivot makes rootfs the root and detaches the old one, the way runc does
// it without a directory for the old root: pivot_root(".", ".") stacks
// the old root on the new, and unmounting "." from the old root removes it.
static void pivot(const char *rootfs) {
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0 || newroot < 0)
		fail(EXIT_LAUNCH, "open roots: %s", errstr(errno));
	if (fchdir(newroot) < 0)
		fail(EXIT_LAUNCH, "chdir %s: %s", rootfs, errstr(errno));
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail(EXIT_LAUNCH, "pivot_root %s: %s", rootfs, errstr(errno));
	if (fchdir(oldroot) < 0)
		fail(EXIT_LAUNCH, "chdir old root: %s", errstr(errno));
	if (mount("", ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		fail(EXIT_LAUNCH, "make old root slave: %s", errstr(errno));
	if (umount2(".", MNT_DETACH) < 0)
		fail(EXIT_LAUNCH, "detach old root: %s", errstr(errno));
	if (chdir("/") < 0)
		fail(EXIT_LAUNCH, "chdir /: %s", errstr(errno));
	close(oldroot);
	close(newroot);
}

static void setup_rootfs(void) {
	step = "rootfs";
	// Nothing done here may propagate back to the host.
	if (mount("", "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		fail(EXIT_LAUNCH, "make mounts slave: %s", errstr(errno));
	const char *rootfs = cfg.rootfs;
	if (cfg.overlay_target) {
		// The launcher made the upper, work and target directories in
		// the workload's state directory; the mount dies with this
		// mount namespace.
		if (mount("overlay", cfg.overlay_target, "overlay", 0, cfg.overlay_opts) < 0)
			fail(EXIT_LAUNCH, "mount overlay root: %s", errstr(errno));
		rootfs = cfg.overlay_target;
	}
	if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail(EXIT_LAUNCH, "bind root filesystem %s: %s", rootfs, errstr(errno));
	rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		fail(EXIT_LAUNCH, "open root filesystem: %s", errstr(errno));

	r_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0);
	int e = r_mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 1);
	if (e == EPERM) {
		// Sharing the host's network namespace from a user namespace:
		// sysfs cannot be mounted fresh, so the host's is bound read-only.
		r_bind("/sys", "/sys", BIND_DIR | BIND_RO);
	} else if (e != 0) {
		fail(EXIT_LAUNCH, "mount sysfs on /sys: %s", errstr(e));
	}
	mount_dev();
	for (int i = 0; i < cfg.nbinds; i++) {
		struct bind *b = &cfg.binds[i];
		const char *saved = step;
		if (b->flags & BIND_VOLUME) {
			static char vol[PATH_MAX * 2 + 16];
			snprintf(vol, sizeof vol, "rootfs: volume %s:%s", b->src, b->target);
			step = vol;
		}
		r_bind(b->src, b->target, b->flags);
		step = saved;
	}
	pivot(rootfs);
	close(rootfd);
	if (cfg.read_only)
		remount_ro("/", "/");
}

// check_procfs runs right after pivot_root, before anything is written or
// mounted under /proc: /proc must be the procfs the init mounted, not a
// directory or symlink of the root filesystem dressed up as one.
static void check_procfs(void) {
	step = "procfs";
	static const char *paths[] = {"/proc", "/proc/self/fd"};
	for (size_t i = 0; i < 2; i++) {
		int fd = open(paths[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			fail(EXIT_LAUNCH, "%s: %s", paths[i], errstr(errno));
		struct statfs sfs;
		int r = fstatfs(fd, &sfs);
		close(fd);
		if (r < 0)
			fail(EXIT_LAUNCH, "%s: %s", paths[i], errstr(errno));
		if (sfs.f_type != PROC_SUPER_MAGIC)
			fail(EXIT_LAUNCH, "%s is not procfs (filesystem type %#lx)", paths[i], (unsigned long)sfs.f_type);
	}
}

// Hidden from the workload, and made read-only, as Docker does (moby's
// oci.DefaultSpec): kernel state that leaks host information or lets root
// in the workload change the host.
static const char *masked_paths[] = {"/proc/asound",     "/proc/acpi",         "/proc/interrupts", "/proc/kcore",
                                     "/proc/keys",       "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                     "/proc/sched_debug", "/proc/scsi",        "/sys/firmware",    "/sys/devices/virtual/powercap"};
static const char *readonly_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};

// open_kernel_path opens p (under the init's own /proc or /sys) without
// following it, for mask_paths; -1 if it does not exist on this kernel.
static int open_kernel_path(const char *p, const char *what) {
	int fd = open(p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		fail(EXIT_LAUNCH, "%s %s: %s", what, p, errstr(errno));
	return fd;
}

// mask_paths runs after pivot_root, on the procfs and sysfs the init
// mounted itself: a file gets /dev/null bound over it, a directory an
// empty read-only tmpfs. Nothing is followed: a symlink is left alone.
static void mask_paths(void) {
	step = "paths";
	if (cfg.privileged)
		return;
	int null = open("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (null < 0)
		fail(EXIT_LAUNCH, "open /dev/null: %s", errstr(errno));
	struct stat st;
	if (fstat(null, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
		fail(EXIT_LAUNCH, "/dev/null is not the null device");
	for (size_t i = 0; i < sizeof masked_paths / sizeof masked_paths[0]; i++) {
		const char *p = masked_paths[i];
		int fd = open_kernel_path(p, "mask");
		if (fd < 0)
			continue;
		int r = fstat(fd, &st);
		if (r == 0 && S_ISDIR(st.st_mode))
			r = mount("tmpfs", fdpath(fd), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0");
		else if (r == 0 && !S_ISLNK(st.st_mode))
			r = mount(fdpath(null), fdpath(fd), NULL, MS_BIND, NULL);
		if (r < 0)
			fail(EXIT_LAUNCH, "mask %s: %s", p, errstr(errno));
		close(fd);
	}
	for (size_t i = 0; i < sizeof readonly_paths / sizeof readonly_paths[0]; i++) {
		const char *p = readonly_paths[i];
		int fd = open_kernel_path(p, "read-only");
		if (fd < 0)
			continue;
		if (mount(fdpath(fd), fdpath(fd), NULL, MS_BIND | MS_REC, NULL) < 0)
			fail(EXIT_LAUNCH, "read-only %s: %s", p, errstr(errno));
		close(fd);
		remount_ro(p, p);
	}
	close(null);
}

// ---- the command -------------------------------------------------------

// check_executable tells "not found" (127) from "found but not
// executable" (126), as execvp would find them; 0 if p can run.
static int check_executable(const char *p, const char **why) {
	struct stat st;
	if (stat(p, &st) < 0) {
		*why = errno == ENOENT ? "no such file or directory" : errstr(errno);
		return errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE;
	}
	if (S_ISDIR(st.st_mode)) {
		*why = "is a directory";
		return EXIT_CANNOT_EXECUTE;
	}
	if ((st.st_mode & 0111) == 0) {
		*why = "permission denied";
		return EXIT_CANNOT_EXECUTE;
	}
	if (access(p, X_OK) < 0) {
		static char buf[160];
		snprintf(buf, sizeof buf, "not executable: %s", errstr(errno));
		*why = buf;
		return EXIT_CANNOT_EXECUTE;
	}
	return 0;
}

// look_path finds the command in the workload's root the way execvp
// does, with the PATH of its environment.
static char *look_path(const char *file) {
	static char msg[PATH_MAX + 256];
	const char *why;
	if (strchr(file, '/')) {
		int code = check_executable(file, &why);
		if (code) {
			snprintf(msg, sizeof msg, "exec %s: %s", file, why);
			send_error(code, msg);
		}
		return (char *)file;
	}
	const char *path = ""; // the launcher's environment always has a PATH
	for (int i = 0; i < cfg.envc; i++)
		if (strncmp(cfg.envp[i], "PATH=", 5) == 0)
			path = cfg.envp[i] + 5;
	char *denied = NULL;
	const char *s = path;
	for (;;) {
		const char *e = strchr(s, ':');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char *p = xmalloc(n + strlen(file) + 3);
		if (n == 0)
			sprintf(p, "./%s", file);
		else
			sprintf(p, "%.*s/%s", (int)n, s, file);
		int code = check_executable(p, &why);
		if (code == 0)
			return p;
		if (code == EXIT_CANNOT_EXECUTE && denied == NULL) {
			denied = xmalloc(strlen(file) + strlen(p) + strlen(why) + 16);
			sprintf(denied, "exec %s: %s: %s", file, p, why);
		}
		free(p);
		if (!e)
			break;
		s = e + 1;
	}
	if (denied)
		send_error(EXIT_CANNOT_EXECUTE, denied);
	snprintf(msg, sizeof msg, "exec %s: executable file not found in the root filesystem's PATH (%s)", file, path);
	send_error(EXIT_NOT_FOUND, msg);
}

static int say_exec(void) { return write_full(SYNC_FD, "x", 1); }

void nsagent_init(int argc, char **argv) {
	if (argc != 2 || strcmp(argv[1], "init") != 0 || getenv("_NSAGENT_INIT") == NULL)
		return;
	// Non-dumpable until execve (which makes the command dumpable again):
	// no process of the workload can open this one's /proc/PID/exe, mem
	// or fds while it sets up (CVE-2019-5736 defence in depth, with the
	// sealed view of the binary it runs from).
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NAME, "nsagent-init", 0, 0, 0);
	// Nothing inherited beyond stdio (the sync and console sockets, the
	// cgroup.procs fds) reaches the workload.
	if (syscall(SYS_close_range, SYNC_FD, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = SYNC_FD; fd < 64; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	struct stat st;
	if (fstat(SYNC_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "nsagent init: the workload's init, started by nsagent launch only\n");
		_exit(EXIT_LAUNCH);
	}
	// The config comes first, right after the fork: the root filesystem
	// is set up while the launcher makes the cgroup and the network's
	// host side; then come the cgroup.procs fds and "parent".
	read_config();
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

	// network first: joining a named namespace opens /run/netns, which
	// the root filesystem hides, and /sys is mounted for the namespace
	// the init is in.
	init_network();
	setup_rootfs();
	check_procfs();
	if (cfg.hostname) {
		step = "hostname";
		if (sethostname(cfg.hostname, strlen(cfg.hostname)) < 0)
			fail(EXIT_LAUNCH, "%s", errstr(errno));
	}
	mask_paths();
	step = "init";
	recv_cgroup_fds();
	// The launcher's side of the network (the bridge's veth into this
	// namespace) is done when it says "parent"; the command must not
	// start before.
	step = "parent";
	char op;
	if (read_full(SYNC_FD, &op, 1) < 0)
		fail(EXIT_LAUNCH, "wait for launcher: %s", errstr(errno));
	if (op != 'p')
		fail(EXIT_LAUNCH, "launcher sent %#x, want \"parent\"", op);
	if (cfg.tty) {
		step = "console";
		const char *what;
		if (nsagent_console(CONSOLE_FD, cfg.uid, cfg.gid, &what) < 0)
			fail(EXIT_LAUNCH, "%s: %s", what, errstr(errno));
	}
	if (!cfg.tty) {
		// No controlling terminal: the caller's terminal, if stdio is
		// one, cannot be pushed input with TIOCSTI.
		step = "session";
		if (setsid() < 0)
			fail(EXIT_LAUNCH, "setsid: %s", errstr(errno));
	}
	step = "init";
	char *path = look_path(cfg.argv[0]);
	// The last steps before execve: the init ran so far outside the
	// limited cgroup, so what it used stays charged to the launcher's
	// cgroup. "0" is the writer itself.
	for (int i = 0; i < ncgroup_fds; i++) {
		if (write(cgroup_fds[i], "0", 1) < 0)
			fail(EXIT_LAUNCH, "join cgroup: %s", errstr(errno));
		close(cgroup_fds[i]);
	}
	if (cfg.cgroupns && unshare(CLONE_NEWCGROUP) < 0)
		fail(EXIT_LAUNCH, "cgroup namespace: %s", errstr(errno));
	const char *wd = cfg.cwd ? cfg.cwd : "";
	if (cfg.cwd && chdir(cfg.cwd) < 0)
		fail(EXIT_LAUNCH, "working directory %s: %s", wd, errstr(errno));
	// A working directory outside the root (CVE-2024-21626: a leaked fd
	// of a host directory given as -w /proc/self/fd/N) is named
	// "(unreachable)/..." by the kernel's getcwd, never an absolute path.
	char buf[PATH_MAX];
	if (syscall(SYS_getcwd, buf, sizeof buf) < 0 || buf[0] != '/')
		fail(EXIT_LAUNCH, "working directory %s: outside the workload's root", wd);
	const char *what;
	if (nsagent_confine(cfg.caps, cfg.nnp, &cfg.prog, cfg.uid, cfg.gid, 0, say_exec, &what) < 0) {
		if (strcmp(what, "tell the launcher") == 0)
			_exit(EXIT_LAUNCH); // the launcher is gone
		fail(EXIT_LAUNCH, "%s: %s", what, errstr(errno));
	}
	execve(path, cfg.argv, cfg.envp);
	int e = errno;
	char msg[PATH_MAX + 256];
	if (e == EPERM && cfg.prog.len > 0)
		snprintf(msg, sizeof msg, "exec %s: %s: the seccomp profile %s refused execve", cfg.argv[0], errstr(e),
		         cfg.seccomp_mode ? cfg.seccomp_mode : "");
	else
		snprintf(msg, sizeof msg, "exec %s: %s", cfg.argv[0], errstr(e));
	send_error(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE, msg);
}

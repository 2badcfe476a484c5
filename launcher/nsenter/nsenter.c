// See nsenter.go: joins a workload's cgroup and namespaces before the Go
// runtime starts, then runs the command in a child and waits for it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include "confine.h"

static pid_t child_pid;

static void die(int code, const char *what, int err) {
	if (err)
		fprintf(stderr, "nsagent exec: %s: %s\n", what, strerror(err));
	else
		fprintf(stderr, "nsagent exec: %s\n", what);
	_exit(code);
}

// forward relays a signal sent to us by a process (not one the terminal
// raised, which the child's process group gets by itself).
static void forward(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	if (child_pid > 0 && si->si_code <= 0)
		kill(child_pid, sig);
}

static const struct {
	const char *name;
	int type;
} nstypes[] = {
	// user first: joining it gives the capabilities the others need;
	// mnt last: it changes what the paths above resolve to.
	{"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
	{"net", CLONE_NEWNET},   {"pid", CLONE_NEWPID}, {"cgroup", CLONE_NEWCGROUP},
	{"mnt", CLONE_NEWNS},
};
#define NNS (sizeof(nstypes) / sizeof(nstypes[0]))

// read_seccomp reads the workload's compiled BPF program (written by the
// launcher as STATE/ID/seccomp.bpf) while host paths still mean the host:
// it is installed in the child right before execve.
static struct sock_fprog read_seccomp(const char *path) {
	struct sock_fprog prog = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		die(125, path, errno);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
	    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		die(125, "seccomp program: not a whole BPF program", 0);
	struct sock_filter *f = malloc(st.st_size);
	if (f == NULL)
		die(125, "seccomp program", ENOMEM);
	for (off_t done = 0; done < st.st_size;) {
		ssize_t n = read(fd, (char *)f + done, st.st_size - done);
		if (n <= 0)
			die(125, "read seccomp program", n < 0 ? errno : EIO);
		done += n;
	}
	close(fd);
	prog.len = st.st_size / sizeof(struct sock_filter);
	prog.filter = f;
	return prog;
}

void nsagent_nsenter(int argc, char **argv, char **envp) {
	const char *pid = getenv("_NSAGENT_NSENTER_PID");
	if (pid == NULL || argc < 3 || strcmp(argv[1], "__nsenter") != 0)
		return;
	char *cmdv0 = argv[2];
	(void)envp;
	// Non-dumpable: the child is in the workload's pid namespace until
	// it execve's (which makes it dumpable again), and no process there
	// may open its /proc/PID/exe or fds meanwhile (CVE-2019-5736).
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die(125, "set non-dumpable", errno);
	// Run from /proc/self/fd/N (a sealed view of the binary), the name
	// would be "N": keep the one ps shows meaningful.
	prctl(PR_SET_NAME, "nsagent-exec", 0, 0, 0);

	// 1. The cgroup, while the host's cgroupfs is still what paths mean.
	const char *cg = getenv("_NSAGENT_NSENTER_CGROUP");
	if (cg && *cg) {
		char *list = strdup(cg), *save = NULL, buf[32];
		snprintf(buf, sizeof buf, "%d", getpid());
		for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
			int fd = open(p, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
				die(125, p, errno);
			close(fd);
		}
		free(list);
	}

	// The confinement, read while the state directory's path is the host's.
	const char *caps = getenv("_NSAGENT_NSENTER_CAPS");
	int confined = caps && *caps;
	unsigned long long keep = confined ? strtoull(caps, NULL, 16) : 0;
	const char *nnp_env = getenv("_NSAGENT_NSENTER_NNP");
	int nnp = nnp_env && strcmp(nnp_env, "1") == 0;
	struct sock_fprog prog = {0};
	const char *sc = getenv("_NSAGENT_NSENTER_SECCOMP");
	if (sc && *sc)
		prog = read_seccomp(sc);

	// 2. Open every namespace first, then join those that differ from ours.
	int fds[NNS], joined_user = 0;
	for (size_t i = 0; i < NNS; i++) {
		char path[64], self[64];
		struct stat a, b;
		fds[i] = -1;
		snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, nstypes[i].name);
		snprintf(self, sizeof self, "/proc/self/ns/%s", nstypes[i].name);
		if (stat(path, &a) < 0)
			die(125, "workload is not running", 0);
		if (stat(self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			continue; // shared with us (--net host and the like)
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			die(125, path, errno);
	}
	for (size_t i = 0; i < NNS; i++) {
		if (fds[i] < 0)
			continue;
		if (nstypes[i].type == CLONE_NEWUSER)
			joined_user = 1;
		if (setns(fds[i], nstypes[i].type) < 0) {
			char what[64];
			snprintf(what, sizeof what, "join %s namespace", nstypes[i].name);
			die(125, what, errno);
		}
		close(fds[i]);
	}

	// The console socket (exec -t), close-on-exec in both processes.
	int console_sock = -1;
	const char *cs = getenv("_NSAGENT_NSENTER_CONSOLE");
	if (cs && *cs) {
		console_sock = atoi(cs);
		if (fcntl(console_sock, F_SETFD, FD_CLOEXEC) < 0)
			die(125, "console socket", errno);
	}

	// 3. Fork: the child is in the pid namespace, and runs the command.
	child_pid = fork();
	if (child_pid < 0)
		die(125, "fork", errno);
	if (child_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		const char *user = getenv("_NSAGENT_NSENTER_USER");
		unsigned uid = 0, gid = 0;
		if (user && *user)
			sscanf(user, "%u:%u", &uid, &gid);
		const char *what;
		if (console_sock >= 0 && nsagent_console(console_sock, uid, gid, &what) < 0)
			die(125, what, errno);
		// Nothing this process inherited beyond stdio reaches the
		// workload (CVE-2016-9962, CVE-2024-21626): an fd of a host
		// directory would be a way out of the root, even as a working
		// directory (-w /proc/self/fd/N). Closed, not close-on-exec,
		// before the working directory is resolved.
		if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
			die(125, "close inherited fds", errno);
		const char *cwd = getenv("_NSAGENT_NSENTER_CWD");
		if (cwd && *cwd && chdir(cwd) < 0)
			die(125, cwd, errno);
		// The kernel names a directory outside this process's root
		// "(unreachable)...": refuse it rather than run there.
		char wd[4096];
		if (syscall(SYS_getcwd, wd, sizeof wd) < 0 || wd[0] != '/')
			die(125, "working directory is outside the workload's root", 0);
		if (confined) {
			if (nsagent_confine(keep, nnp, &prog, uid, gid, joined_user, NULL, &what) < 0)
				die(125, what, errno);
		} else if (uid != 0 || gid != 0 || joined_user) {
			// In a joined user namespace the host's root is unmapped
			// there: become the namespace's IDs, root included.
			if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
				die(125, "set user", errno);
		}
		unsetenv("_NSAGENT_NSENTER_PID");
		unsetenv("_NSAGENT_NSENTER_CGROUP");
		unsetenv("_NSAGENT_NSENTER_CWD");
		unsetenv("_NSAGENT_NSENTER_USER");
		unsetenv("_NSAGENT_NSENTER_CONSOLE");
		unsetenv("_NSAGENT_NSENTER_CAPS");
		unsetenv("_NSAGENT_NSENTER_NNP");
		unsetenv("_NSAGENT_NSENTER_SECCOMP");
		execvp(cmdv0, argv + 2);
		int e = errno;
		fprintf(stderr, "nsagent exec: %s: %s\n", cmdv0, e == ENOENT ? "executable file not found in the workload" : strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	if (console_sock >= 0)
		close(console_sock); // EOF tells the caller when no pty came
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	int status;
	for (;;) {
		pid_t r = waitpid(child_pid, &status, 0);
		if (r == child_pid)
			break;
		if (r < 0 && errno != EINTR)
			die(125, "wait", errno);
	}
	if (WIFSIGNALED(status))
		_exit(128 + WTERMSIG(status));
	_exit(WEXITSTATUS(status));
}

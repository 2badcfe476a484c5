// See confine.h.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "confine.h"

int nsagent_send_fd(int sock, int fd) {
	char byte = 0, buf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
	memset(buf, 0, sizeof buf);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) < 0 ? -1 : 0;
}

#define FAIL(w)                                                                                                        \
	do {                                                                                                           \
		*what = (w);                                                                                           \
		return -1;                                                                                             \
	} while (0)

int nsagent_console(int sock, uid_t uid, gid_t gid, const char **what) {
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		FAIL("open /dev/ptmx");
	int unlock = 0, n;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
		FAIL("unlock pty");
	if (ioctl(m, TIOCGPTN, &n) < 0)
		FAIL("pty number");
	char name[32];
	snprintf(name, sizeof name, "/dev/pts/%d", n);
	int t = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (t < 0)
		FAIL("open pty");
	if (fchown(t, uid, gid) < 0)
		FAIL("chown pty");
	if (nsagent_send_fd(sock, m) < 0)
		FAIL("send pty");
	close(m);
	close(sock);
	if (setsid() < 0)
		FAIL("setsid");
	if (ioctl(t, TIOCSCTTY, 0) < 0)
		FAIL("set controlling terminal");
	for (int fd = 0; fd < 3; fd++)
		if (dup2(t, fd) < 0)
			FAIL("dup pty");
	close(t);
	return 0;
}

static int load_seccomp(struct sock_fprog *prog) {
	if (prog == NULL || prog->len == 0)
		return 0;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0 ? -1 : 0;
}

int nsagent_confine(unsigned long long keep, int nnp, struct sock_fprog *prog, uid_t uid, gid_t gid, int set_user,
                    int (*before_filter)(void), const char **what) {
	if (!nnp && load_seccomp(prog) < 0)
		FAIL("load seccomp filter");
	for (int c = 0; c < 64; c++) {
		if (keep & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; // past the last capability the kernel knows
			FAIL("drop capability from the bounding set");
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		FAIL("clear ambient capabilities");
	if (uid != 0 || gid != 0 || set_user) {
		if (setgroups(0, NULL) < 0)
			FAIL("setgroups");
		if (setresgid(gid, gid, gid) < 0)
			FAIL("setgid");
		if (setresuid(uid, uid, uid) < 0)
			FAIL("setuid");
		// A credential change clears the parent-death signal.
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	}
	// What this process lacks (a host may withhold some from everyone)
	// it cannot pass on, even to --privileged.
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct cur[2];
	if (syscall(SYS_capget, &hdr, cur) < 0)
		FAIL("get capabilities");
	unsigned long long have = cur[0].permitted | (unsigned long long)cur[1].permitted << 32;
	if (uid != 0)
		keep = 0;
	keep &= have;
	struct __user_cap_data_struct data[2] = {
	    {.effective = (__u32)keep, .permitted = (__u32)keep, .inheritable = 0},
	    {.effective = (__u32)(keep >> 32), .permitted = (__u32)(keep >> 32), .inheritable = 0},
	};
	if (syscall(SYS_capset, &hdr, data) < 0)
		FAIL("set capabilities");
	if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		FAIL("no_new_privs");
	if (before_filter != NULL && before_filter() < 0)
		FAIL("tell the launcher");
	if (nnp && load_seccomp(prog) < 0)
		FAIL("load seccomp filter");
	return 0;
}

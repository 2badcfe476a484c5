// Shared by the init (nsinit.c) and the exec helper (nsenter.c): what both
// do to a process right before it executes a workload's command. Each
// returns 0, or -1 with errno set and *what naming the step that failed.
#ifndef NSAGENT_CONFINE_H
#define NSAGENT_CONFINE_H

#include <sys/types.h>
#include <linux/filter.h>

// nsagent_send_fd passes fd over the unix socket sock with one byte.
int nsagent_send_fd(int sock, int fd);

// nsagent_console makes a pty on the devpts at /dev/pts (the workload's
// own), sends the master over sock, and makes the terminal this new
// session's controlling terminal and stdio, owned by uid:gid.
int nsagent_console(int sock, uid_t uid, gid_t gid, const char **what);

// nsagent_confine gives this process the workload's confinement: the
// bounding set cut to keep, no ambient or inheritable capabilities, the
// user (uid:gid, supplementary groups dropped; set_user forces it for
// uid 0 too, as a joined user namespace needs), permitted and effective =
// keep for root (none for another user: setresuid cleared them),
// no_new_privs, and the seccomp filter last (first without no_new_privs:
// loading it then needs CAP_SYS_ADMIN). before_filter, if set, runs right
// before a filter loaded last (the init's "exec" message: the last
// syscall the filter need not allow but execve).
int nsagent_confine(unsigned long long keep, int nnp, struct sock_fprog *prog, uid_t uid, gid_t gid, int set_user,
                    int (*before_filter)(void), const char **what);

#endif

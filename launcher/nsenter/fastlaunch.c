// See fastlaunch.go: `nsagent launch` re-executes the launch-only build of
// this binary, when there is one, before the Go runtime starts.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef NSAGENT_LAUNCH_DIR
#define NSAGENT_LAUNCH_DIR "/var/lib/nsagent/launch"
#endif
#define ENV_FULL_BINARY "_NSAGENT_FULL_BINARY"
#define STR_(x) #x
#define STR(x) STR_(x)

const char *nsagent_launch_binary_dir(void) {
#ifdef NSAGENT_LAUNCH_ID
	return NSAGENT_LAUNCH_DIR;
#else
	return "";
#endif
}

const char *nsagent_launch_binary_name(void) {
#ifdef NSAGENT_LAUNCH_ID
	return "nsagent-launch-" STR(NSAGENT_LAUNCH_ID);
#else
	return "";
#endif
}

// Flags of `nsagent launch` that take no separate value (booleans, and
// --userns whose value must follow "="); every other flag takes one. A
// test (cmd/nsagent) checks this list against the launch's flag set.
static const char *const no_value_long[] = {
	"detach", "rm", "interactive", "tty", "read-only", "privileged", "insecure", "userns", "help", NULL,
};
static const char no_value_short[] = "dith";

int nsagent_launch_flag_takes_value(const char *name) {
	const char *const *p;

	if (name[0] != '\0' && name[1] == '\0')
		return strchr(no_value_short, name[0]) == NULL;
	for (p = no_value_long; *p; p++)
		if (strcmp(*p, name) == 0)
			return 0;
	return 1;
}

// launch_rootfs returns launch's first operand, ROOTFS|IMAGE, skipping the
// flags as pflag parses them (interspersed parsing is off for launch), or
// NULL.
static __attribute__((unused)) const char *launch_rootfs(int argc, char **argv) {
	int i;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1 < argc ? argv[i + 1] : NULL;
		if (a[0] != '-' || a[1] == '\0')
			return a;
		if (a[1] == '-') {
			char name[64];
			size_t n = strcspn(a + 2, "=");
			if (a[2 + n] == '=' || n >= sizeof(name))
				continue;
			memcpy(name, a + 2, n);
			name[n] = '\0';
			if (nsagent_launch_flag_takes_value(name))
				i++;
			continue;
		}
		// -abc: booleans until one that takes a value, which takes the
		// rest of the group or, at its end, the next argument.
		for (a++; *a; a++) {
			char c[2] = {*a, '\0'};
			if (nsagent_launch_flag_takes_value(c)) {
				if (a[1] == '\0')
					i++;
				break;
			}
		}
	}
	return NULL;
}

// launch_from_source reports whether ROOTFS names an image source
// (docker-archive:, oci:, tarball:), which only the registry client reads:
// that launch stays in this binary. A path, or a registry reference (which
// the launch binary finds in the cache when a launch or pull resolved it
// before, and hands back here when not), goes to the launch binary.
static __attribute__((unused)) int launch_from_source(const char *rootfs) {
	static const char *const prefixes[] = {"docker-archive:", "oci:", "tarball:", NULL};
	const char *const *p;

	for (p = prefixes; rootfs && *p; p++)
		if (strncmp(rootfs, *p, strlen(*p)) == 0)
			return 1;
	return 0;
}

void nsagent_fastlaunch(int argc, char **argv, char **envp) {
#ifdef NSAGENT_LAUNCH_ID
	const char *off = getenv("NSAGENT_LAUNCH_BINARY");
	struct stat st;
	int dfd;

	if (argc < 2 || strcmp(argv[1], "launch") != 0 || (off && strcmp(off, "0") == 0))
		return;
	if (launch_from_source(launch_rootfs(argc, argv)))
		return;
	dfd = open(NSAGENT_LAUNCH_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	// Only a directory that root alone can write: what is in it is what
	// an earlier launch of this build put there (fastlaunch.go).
	if (fstat(dfd, &st) == 0 && st.st_uid == 0 && (st.st_mode & 022) == 0) {
		// The launch binary learns where it came from (EnvFullBinary):
		// an image launch it cannot serve from the cache goes back there.
		static char self[sizeof(ENV_FULL_BINARY) + 4096] = ENV_FULL_BINARY "=";
		size_t pre = sizeof(ENV_FULL_BINARY), n = 0;
		ssize_t len = readlink("/proc/self/exe", self + pre, sizeof(self) - pre - 1);
		char **env;

		while (envp[n])
			n++;
		env = malloc((n + 2) * sizeof(*env));
		if (len > 0 && env) {
			self[pre + len] = '\0';
			memcpy(env, envp, n * sizeof(*env));
			env[n] = self;
			env[n + 1] = NULL;
			syscall(SYS_execveat, dfd, nsagent_launch_binary_name(), argv, env, AT_SYMLINK_NOFOLLOW);
		}
		free(env);
	}
	// Not there yet, or not executable here: the Go launcher runs as
	// it always has, and installs the binary (fastlaunch.go).
	close(dfd);
#else
	(void)argc;
	(void)argv;
	(void)envp;
#endif
}

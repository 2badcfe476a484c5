package launcher

import (
	"fmt"
	"sort"
	"strings"
)

// Seccomp modes besides a profile file.
const (
	SeccompDefault    = "default"
	SeccompUnconfined = "unconfined"
)

// capNames are the capabilities by number (linux/capability.h), as
// --cap-add, --cap-drop and Docker's seccomp profile name them.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// DefaultCaps is Docker's default capability set (CapEff 00000000a80425fb).
var DefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// capNumber returns the number of a capability named with or without
// the CAP_ prefix, in any case.
func capNumber(name string) (int, string, bool) {
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	for i, c := range capNames {
		if c == n {
			return i, c, true
		}
	}
	return 0, "", false
}

// ResolveCaps is the workload's capability set: Docker's default, plus
// add, minus drop (either may be "ALL"), or every capability when
// privileged. Unknown names are errors naming them.
func ResolveCaps(add, drop []string, privileged bool) ([]string, error) {
	set := map[string]bool{}
	if privileged {
		for _, c := range capNames {
			set[c] = true
		}
	} else {
		for _, c := range DefaultCaps {
			set[c] = true
		}
	}
	apply := func(names []string, on bool, flag string) error {
		for _, n := range names {
			if strings.EqualFold(n, "ALL") {
				for _, c := range capNames {
					set[c] = on
				}
				continue
			}
			_, c, ok := capNumber(n)
			if !ok {
				return fmt.Errorf("%s: unknown capability %q", flag, n)
			}
			set[c] = on
		}
		return nil
	}
	// Docker applies drop first, then add: --cap-drop ALL --cap-add X
	// leaves X.
	if err := apply(drop, false, "--cap-drop"); err != nil {
		return nil, err
	}
	if err := apply(add, true, "--cap-add"); err != nil {
		return nil, err
	}
	var out []string
	for c, on := range set {
		if on {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}

// capMask is the bit mask of a set of capability names (all known).
func capMask(caps []string) uint64 {
	var m uint64
	for _, c := range caps {
		if i, _, ok := capNumber(c); ok {
			m |= 1 << uint(i)
		}
	}
	return m
}

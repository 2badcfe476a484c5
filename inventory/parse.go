package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// pfKThread is PF_KTHREAD in the flags field of /proc/<pid>/stat.
const pfKThread = 0x00200000

// procStat is the part of /proc/<pid>/stat nsagent uses.
type procStat struct {
	Comm       string
	State      string
	PPID       int
	Threads    int
	StartTicks uint64
	Kernel     bool
}

// parseStat parses /proc/<pid>/stat. The comm field may itself contain
// spaces and parentheses, so it is cut at the last ')'.
func parseStat(b []byte) (procStat, error) {
	var st procStat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return st, errors.New("stat: no comm field")
	}
	st.Comm = string(b[open+1 : end])
	// Fields after comm, numbered as in proc(5) from 3 (state).
	rest := b[end+1:]
	field := 2
	var err error
	for len(rest) > 0 && field < 22 {
		rest = bytes.TrimLeft(rest, " ")
		i := bytes.IndexByte(rest, ' ')
		var f []byte
		if i < 0 {
			f, rest = rest, nil
		} else {
			f, rest = rest[:i], rest[i+1:]
		}
		field++
		switch field {
		case 3:
			st.State = string(f)
		case 4:
			st.PPID, err = atoi(f)
		case 9:
			var flags uint64
			flags, err = atou(f)
			st.Kernel = flags&pfKThread != 0
		case 20:
			st.Threads, err = atoi(f)
		case 22:
			st.StartTicks, err = atou(f)
		}
		if err != nil {
			return st, fmt.Errorf("stat field %d: %w", field, err)
		}
	}
	if field < 22 {
		return st, fmt.Errorf("stat: %d fields, want at least 22", field)
	}
	return st, nil
}

// procStatus is the part of /proc/<pid>/status nsagent uses.
type procStatus struct {
	Security
	EUID int // -1 if there was no Uid line
}

// parseStatus reads the effective uid and the security fields of
// /proc/<pid>/status.
func parseStatus(b []byte) (procStatus, error) {
	s := procStatus{EUID: -1}
	var err error
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch string(k) {
		case "Uid": // real, effective, saved, filesystem
			f := bytes.Fields(v)
			if len(f) < 2 {
				return s, fmt.Errorf("status Uid %q: want 4 fields", v)
			}
			s.EUID, err = atoi(f[1])
		case "CapEff":
			s.CapEff, err = strconv.ParseUint(string(v), 16, 64)
		case "NoNewPrivs":
			s.NoNewPrivs = string(v) == "1"
		case "Seccomp":
			s.Seccomp, err = atoi(v)
		case "Seccomp_filters":
			s.SeccompFilters, err = atoi(v)
		}
		if err != nil {
			return s, fmt.Errorf("status %s: %w", k, err)
		}
	}
	return s, nil
}

// parseCmdline splits /proc/<pid>/cmdline at NUL bytes. A process that
// rewrote its argv into one space-separated string (as some daemons do)
// comes back as one element.
func parseCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

// parseCgroupFile parses /proc/<pid>/cgroup ("ID:CONTROLLERS:PATH" lines).
func parseCgroupFile(b []byte) ([]CgroupRef, error) {
	var refs []CgroupRef
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		id, rest, ok1 := strings.Cut(line, ":")
		ctrl, path, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("cgroup line %q: want ID:CONTROLLERS:PATH", line)
		}
		n, err := strconv.Atoi(id)
		if err != nil {
			return nil, fmt.Errorf("cgroup line %q: %w", line, err)
		}
		ref := CgroupRef{HierarchyID: n, Path: path}
		if ctrl != "" {
			ref.Controllers = strings.Split(ctrl, ",")
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// parseNSLink parses a namespace link target such as "net:[4026531840]".
func parseNSLink(s string) (NSType, uint64, error) {
	typ, rest, ok := strings.Cut(s, ":[")
	if !ok || typ == "" || !strings.HasSuffix(rest, "]") {
		return "", 0, fmt.Errorf("namespace link %q: want TYPE:[INODE]", s)
	}
	ino, err := strconv.ParseUint(rest[:len(rest)-1], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("namespace link %q: %w", s, err)
	}
	return NSType(typ), ino, nil
}

// parsePasswd maps uids to names from an /etc/passwd file. Malformed lines
// are skipped, as getpwuid skips them.
func parsePasswd(b []byte) map[int]string {
	users := make(map[int]string)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 4)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		if _, dup := users[uid]; !dup {
			users[uid] = f[0]
		}
	}
	return users
}

func atoi(b []byte) (int, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	return int(n), err
}

func atou(b []byte) (uint64, error) {
	return strconv.ParseUint(string(b), 10, 64)
}

// NSFSMount is an nsfs bind mount in a mount namespace: the namespace it
// holds and where (octal escapes undone).
type NSFSMount struct {
	Key        NSKey
	MountPoint string
}

// parseNSFSMounts returns the nsfs mounts of a mountinfo file. Only lines
// whose filesystem type (after the " - " separator) is nsfs are split:
// a mount namespace's table is mostly other mounts, and the scan reads one
// per mount namespace.
func parseNSFSMounts(b []byte) []NSFSMount {
	var out []NSFSMount
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		sep := bytes.Index(line, []byte(" - nsfs "))
		if sep < 0 {
			continue
		}
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT ...
		f := bytes.Fields(line[:sep])
		if len(f) < 5 {
			continue
		}
		t, ino, err := parseNSLink(string(f[3]))
		if err != nil || t.Index() < 0 {
			continue
		}
		out = append(out, NSFSMount{Key: NSKey{t, ino}, MountPoint: unescapeMountPath(string(f[4]))})
	}
	return out
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Fields selects the optional parts of a scan. Namespaces are always
// read; the rest costs extra files per process.
type Fields uint

// The optional parts of a scan.
const (
	// FieldSecurity reads /proc/<pid>/status for seccomp, no_new_privs
	// and capabilities.
	FieldSecurity Fields = 1 << iota
	// FieldCgroupRefs reads /proc/<pid>/cgroup.
	FieldCgroupRefs
	// FieldFDs looks through /proc/<pid>/fd for namespace descriptors.
	FieldFDs
	// FieldCgroupTree walks cgroupfs for limits and usage.
	FieldCgroupTree
	// FieldNSRelations asks the kernel for each namespace's owner and
	// parent, and for net namespaces' NETNSID.
	FieldNSRelations
	// FieldMounts reads each mount namespace's mountinfo for nsfs mounts.
	FieldMounts
	// FieldDetails reads every process's command line and owner. Without
	// it only the processes that represent a namespace (its lowest pid, as
	// lsns shows them) get them: the rest have a nil Cmdline and UID -1.
	FieldDetails
	// FieldTree reads every process's /proc/<pid>/stat: parent, comm,
	// state, threads and start time, the process tree. Without it only
	// the processes that represent a namespace get them (with their
	// details), and zombies and kernel threads are not told apart: lsns's
	// columns need no more, and the stat file is three of the dozen or so
	// syscalls a process costs.
	FieldTree

	// FieldNetInterfaces lists each network namespace's interfaces and
	// addresses over netlink. It is not in AllFields: it costs a netlink
	// socket per namespace, and only `lsns -o +IFACES` shows it.
	FieldNetInterfaces

	// AllFields is everything the agent reads on every scan.
	AllFields = FieldSecurity | FieldCgroupRefs | FieldFDs | FieldCgroupTree | FieldNSRelations | FieldMounts | FieldDetails | FieldTree
)

// Paths are the roots a Scanner reads. The defaults are the live host's; in
// a container that mounts the host at /host they are /host/proc and so on.
type Paths struct {
	Procfs   string // default /proc
	Sysfs    string // default /sys
	Cgroupfs string // default /sys/fs/cgroup
	Rootfs   string // the host's /, for /etc/passwd; default /
}

// DefaultPaths are the live host's roots.
var DefaultPaths = Paths{Procfs: "/proc", Sysfs: "/sys", Cgroupfs: "/sys/fs/cgroup", Rootfs: "/"}

// ErrNotProcfs is returned when the procfs root does not look like procfs.
var ErrNotProcfs = errors.New("not a procfs mount")

// withDefaults fills empty paths from DefaultPaths.
func (p Paths) withDefaults() Paths {
	if p.Procfs == "" {
		p.Procfs = DefaultPaths.Procfs
	}
	if p.Sysfs == "" {
		p.Sysfs = DefaultPaths.Sysfs
	}
	if p.Cgroupfs == "" {
		p.Cgroupfs = DefaultPaths.Cgroupfs
	}
	if p.Rootfs == "" {
		p.Rootfs = DefaultPaths.Rootfs
	}
	return p
}

// Validate checks that the procfs root exists and looks like procfs (it
// has the kernel's stat file), so a wrong --path.procfs fails with one
// clear error instead of an empty scan. It does not list the processes:
// the scan does that once.
func (p Paths) Validate() error {
	p = p.withDefaults()
	fi, err := os.Stat(p.Procfs)
	if err != nil {
		return fmt.Errorf("procfs root %s: %w", p.Procfs, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("procfs root %s: not a directory", p.Procfs)
	}
	if _, err := os.Stat(filepath.Join(p.Procfs, "stat")); err != nil {
		return fmt.Errorf("procfs root %s: %w (no stat file inside)", p.Procfs, ErrNotProcfs)
	}
	return nil
}

// Options configures a Scanner.
type Options struct {
	Paths Paths
	// Fields selects the optional parts; zero means AllFields.
	Fields Fields
	// Workers is the number of goroutines reading processes; zero picks
	// one per CPU, at least two.
	Workers int
	// Cache, if set, supplies processes read by earlier scans (see
	// ProcessCache); nil reads every process in full.
	Cache ProcessCache
}

// nsLinkType returns the namespace type of an fd link target such as
// "net:[4026531840]", or "" if the target is not a namespace; it reads the
// target in place in the read buffer, without making a string of it.
func nsLinkType(target []byte) NSType {
	i := bytes.Index(target, []byte(":["))
	if i <= 0 || target[len(target)-1] != ']' {
		return ""
	}
	for _, t := range NSTypes {
		if string(target[:i]) == string(t) { // compared in place, no copy
			return t
		}
	}
	return ""
}

// nsLinkInode returns the inode of a namespace link target TYPE:[INODE].
func nsLinkInode(target []byte) (uint64, bool) {
	i := bytes.Index(target, []byte(":["))
	if i <= 0 || len(target) < i+4 || target[len(target)-1] != ']' {
		return 0, false
	}
	var ino uint64
	for _, c := range target[i+2 : len(target)-1] {
		if c < '0' || c > '9' || ino > (1<<64-1)/10-1 {
			return 0, false
		}
		ino = ino*10 + uint64(c-'0')
	}
	return ino, true
}

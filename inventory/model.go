// Package inventory is nsagent's one model of the host: processes, the
// namespaces they live in (and what else keeps namespaces alive), and the
// cgroup tree with its limits and usage.
//
// A Scanner reads a procfs root, a cgroupfs root and the host's /etc/passwd
// (all given as paths, never package globals) and returns a Snapshot. The
// CLI (`nsagent lsns|tree|cgroups`), the Prometheus collectors and the web
// view all render the same Snapshot; none of them reads /proc on its own.
//
// The package only reads. It must never write to /proc, /sys or cgroupfs.
package inventory

import (
	"cmp"
	"slices"
	"time"

	"github.com/nsagent/nsagent/inventory/cgmode"
)

// NSType is a kind of Linux namespace, spelled as in /proc/<pid>/ns.
type NSType string

// The namespace types, in the order util-linux lsns lists them.
const (
	NSMnt    NSType = "mnt"
	NSNet    NSType = "net"
	NSPID    NSType = "pid"
	NSUTS    NSType = "uts"
	NSIPC    NSType = "ipc"
	NSUser   NSType = "user"
	NSCgroup NSType = "cgroup"
	NSTime   NSType = "time"
)

// NSTypes lists every namespace type nsagent knows, in a fixed order that
// indexes NSSet.
var NSTypes = [...]NSType{NSMnt, NSNet, NSPID, NSUTS, NSIPC, NSUser, NSCgroup, NSTime}

// numNSTypes is len(NSTypes), as a constant for array sizes.
const numNSTypes = 8

// Index returns t's position in NSTypes, or -1 if t is not a namespace type.
func (t NSType) Index() int {
	for i, v := range NSTypes {
		if v == t {
			return i
		}
	}
	return -1
}

// ParseNSType returns the NSType named s ("net", "pid", ...), and false if
// there is none.
func ParseNSType(s string) (NSType, bool) {
	t := NSType(s)
	return t, t.Index() >= 0
}

// NSSet holds one namespace inode per type, indexed like NSTypes. A zero
// entry means the namespace could not be read (or the kernel lacks the type).
type NSSet [numNSTypes]uint64

// Get returns the inode of the namespace of type t.
func (s NSSet) Get(t NSType) uint64 {
	if i := t.Index(); i >= 0 {
		return s[i]
	}
	return 0
}

// Map returns the set as type → inode, leaving out unreadable entries.
func (s NSSet) Map() map[NSType]uint64 {
	m := make(map[NSType]uint64, numNSTypes)
	for i, ino := range s {
		if ino != 0 {
			m[NSTypes[i]] = ino
		}
	}
	return m
}

// Security is a process's confinement as /proc/<pid>/status reports it.
type Security struct {
	// Seccomp is 0 (disabled), 1 (strict) or 2 (filter).
	Seccomp int `json:"seccomp"`
	// SeccompFilters is the number of filters attached (kernel ≥ 5.9).
	SeccompFilters int `json:"seccomp_filters"`
	// NoNewPrivs is the no_new_privs bit.
	NoNewPrivs bool `json:"no_new_privs"`
	// CapEff is the effective capability set as a bit mask.
	CapEff uint64 `json:"cap_eff"`
}

// CgroupRef is one line of /proc/<pid>/cgroup: a process's place in one
// hierarchy.
type CgroupRef struct {
	// HierarchyID is 0 for the unified (v2) hierarchy.
	HierarchyID int `json:"hierarchy_id"`
	// Controllers are the v1 controllers bound to the hierarchy ("memory",
	// "cpu,cpuacct", "name=systemd"); empty for v2.
	Controllers []string `json:"controllers,omitempty"`
	// Path is the cgroup path relative to the hierarchy's root, as the
	// process sees it from its own cgroup namespace.
	Path string `json:"path"`
}

// Process is one process (thread group) of the host.
type Process struct {
	PID     int      `json:"pid"`
	PPID    int      `json:"ppid"`
	Comm    string   `json:"comm"`
	Cmdline []string `json:"cmdline"`
	UID     int      `json:"uid"`
	User    string   `json:"user"`
	// StartTicks is the start time in clock ticks after boot; with PID it
	// identifies a process across pid reuse.
	StartTicks uint64    `json:"start_ticks"`
	Started    time.Time `json:"started"`
	State      string    `json:"state"`
	Threads    int       `json:"threads"`
	// Kernel is true for kernel threads (no command line, child of kthreadd).
	Kernel   bool        `json:"kernel,omitempty"`
	NS       NSSet       `json:"-"`
	Cgroups  []CgroupRef `json:"cgroups"`
	Security Security    `json:"security"`

	nsFDs []nsFD // namespace descriptors the process holds open
}

// nsFD is an open file descriptor that refers to a namespace.
type nsFD struct {
	fd  int
	key NSKey
}

// Command returns the process's command line as lsns prints it: argv joined
// by spaces, or the comm name when argv is empty (kernel threads, zombies).
func (p *Process) Command() string {
	if len(p.Cmdline) == 0 {
		return p.Comm
	}
	n := len(p.Cmdline) - 1
	for _, a := range p.Cmdline {
		n += len(a)
	}
	b := make([]byte, 0, n)
	for i, a := range p.Cmdline {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, a...)
	}
	return string(b)
}

// CgroupPath returns the process's path in the hierarchy that carries
// controller (e.g. "memory"), or in the unified hierarchy if controller is
// "" or no v1 hierarchy carries it. It returns "" if the process has none.
func (p *Process) CgroupPath(controller string) string {
	unified := ""
	for _, c := range p.Cgroups {
		if c.HierarchyID == 0 {
			unified = c.Path
			continue
		}
		for _, name := range c.Controllers {
			if name == controller {
				return c.Path
			}
		}
	}
	return unified
}

// Holder says what keeps a namespace alive.
type Holder string

// The holders of a namespace.
const (
	HeldByProcess Holder = "process"
	HeldByMount   Holder = "mount"
	HeldByFD      Holder = "fd"
)

// FDRef is an open file descriptor that refers to a namespace.
type FDRef struct {
	PID int `json:"pid"`
	FD  int `json:"fd"`
}

// Namespace is one namespace, found through a process, an nsfs bind mount or
// an open file descriptor.
type Namespace struct {
	Type  NSType `json:"type"`
	Inode uint64 `json:"ns"`
	// PIDs are the processes in it, ascending. Empty for a namespace held
	// only by a mount or an fd.
	PIDs []int `json:"pids"`
	// Owner is the inode of the owning user namespace (0 if unknown).
	Owner uint64 `json:"owner,omitempty"`
	// Parent is the inode of the parent namespace, for pid and user
	// namespaces (0 if none or not visible from here).
	Parent uint64 `json:"parent,omitempty"`
	// NetNSID is the id the host's network namespace gave this one (net
	// namespaces only; nil if unassigned).
	NetNSID *int `json:"netnsid,omitempty"`
	// Mounts are nsfs bind mounts of this namespace (e.g. /run/netns/x).
	Mounts []string `json:"mounts,omitempty"`
	// FDs are open file descriptors that refer to this namespace.
	FDs []FDRef `json:"fds,omitempty"`
	// Interfaces are a net namespace's links and addresses (read only
	// with FieldNetInterfaces).
	Interfaces []Interface `json:"interfaces,omitempty"`

	mountPath string // a path that opens it through an nsfs mount
	nprocs    int    // len(PIDs) to be, while the scan builds it
}

// NProcs returns the number of processes in the namespace.
func (n *Namespace) NProcs() int { return len(n.PIDs) }

// LowestPID returns the lowest pid in the namespace, or 0 if none.
func (n *Namespace) LowestPID() int {
	if len(n.PIDs) == 0 {
		return 0
	}
	return n.PIDs[0]
}

// HeldBy lists what keeps the namespace alive.
func (n *Namespace) HeldBy() []Holder {
	var h []Holder
	if len(n.PIDs) > 0 {
		h = append(h, HeldByProcess)
	}
	if len(n.Mounts) > 0 {
		h = append(h, HeldByMount)
	}
	if len(n.FDs) > 0 {
		h = append(h, HeldByFD)
	}
	return h
}

// Interface is a network interface of a net namespace.
type Interface struct {
	Name  string   `json:"name"`
	Up    bool     `json:"up"`
	MAC   string   `json:"mac,omitempty"`
	Addrs []string `json:"addrs,omitempty"` // CIDR notation
}

// NSKey identifies a namespace.
type NSKey struct {
	Type  NSType
	Inode uint64
}

// CgroupMode is the layout of a cgroupfs mount (package cgmode).
type CgroupMode = cgmode.Mode

// The cgroup layouts, as containerd/cgroups names them.
const (
	CgroupLegacy  = cgmode.Legacy  // v1 controllers only
	CgroupHybrid  = cgmode.Hybrid  // v1 controllers plus a cgroup2 mount at unified/
	CgroupUnified = cgmode.Unified // cgroup v2 only
)

// Memory is a cgroup's memory limit and usage. Limits are nil when unlimited.
type Memory struct {
	LimitBytes     *uint64 `json:"limit_bytes"`
	SwapLimitBytes *uint64 `json:"swap_limit_bytes"`
	UsageBytes     uint64  `json:"usage_bytes"`
	// MaxUsageBytes is the peak (v1 max_usage_in_bytes, v2 memory.peak).
	MaxUsageBytes uint64 `json:"max_usage_bytes"`
	// WorkingSetBytes is usage less inactive file pages, as cAdvisor and
	// the kubelet count it.
	WorkingSetBytes uint64 `json:"working_set_bytes"`
	// OOMKills counts OOM kills in this cgroup (v1 memory.oom_control
	// oom_kill, v2 memory.events oom_kill). failcnt does not move on OOM.
	OOMKills uint64 `json:"oom_kills"`
}

// CPU is a cgroup's CPU bandwidth limit and usage.
type CPU struct {
	// QuotaMicros is nil when unlimited.
	QuotaMicros  *int64 `json:"quota_us"`
	PeriodMicros uint64 `json:"period_us"`
	UsageNanos   uint64 `json:"usage_ns"`
	// Throttled periods and time, from cpu.stat.
	NrPeriods      uint64 `json:"nr_periods"`
	NrThrottled    uint64 `json:"nr_throttled"`
	ThrottledNanos uint64 `json:"throttled_ns"`
}

// Pids is a cgroup's pids limit and count.
type Pids struct {
	Max     *uint64 `json:"max"` // nil when unlimited
	Current uint64  `json:"current"`
}

// PSI is one pressure file (cpu, memory or io): the some and full totals in
// microseconds and the 10 s averages.
type PSI struct {
	SomeTotalMicros uint64  `json:"some_total_us"`
	FullTotalMicros uint64  `json:"full_total_us"`
	SomeAvg10       float64 `json:"some_avg10"`
	FullAvg10       float64 `json:"full_avg10"`
}

// Cgroup is one cgroup path. On v1 and hybrid hosts the same path in each
// controller hierarchy is merged into one Cgroup, so v1 and v2 look alike.
type Cgroup struct {
	// Path is absolute from the hierarchy root, "/" for the root.
	Path string `json:"path"`
	// Controllers are the controllers that have this path (v1: the
	// hierarchies where the directory exists; v2: cgroup.controllers).
	Controllers []string `json:"controllers"`
	// Procs counts the processes directly in this cgroup (cgroup.procs of
	// the memory or unified hierarchy).
	Procs  int            `json:"procs"`
	Memory *Memory        `json:"memory,omitempty"`
	CPU    *CPU           `json:"cpu,omitempty"`
	Pids   *Pids          `json:"pids,omitempty"`
	PSI    map[string]PSI `json:"psi,omitempty"`
	Errors []string       `json:"errors,omitempty"`
}

// Cgroups is the cgroup tree of a host.
type Cgroups struct {
	Mode CgroupMode `json:"mode"`
	// Groups are sorted by path; the root comes first.
	Groups []*Cgroup `json:"groups"`
}

// Stats describes a scan.
type Stats struct {
	Processes int `json:"processes"`
	// Vanished counts processes that exited during the scan.
	Vanished int `json:"vanished"`
	// Inaccessible counts processes whose namespaces could not be read
	// (permission denied), left out like lsns leaves them out.
	Inaccessible int           `json:"inaccessible"`
	Duration     time.Duration `json:"duration_ns"`
}

// Snapshot is the host as one scan saw it.
type Snapshot struct {
	Time time.Time `json:"time"`
	// Processes are sorted by PID.
	Processes []*Process `json:"processes"`
	// Namespaces are sorted by inode, then type.
	Namespaces []*Namespace `json:"namespaces"`
	// Cgroups is nil if the scan was asked not to read cgroupfs.
	Cgroups *Cgroups `json:"cgroups,omitempty"`
	Stats   Stats    `json:"stats"`

	byNS map[NSKey]*Namespace // the map the scan built the namespaces in
}

// Process returns the process with the given pid, or nil. Processes are
// sorted by pid: a binary search, rather than a map of every process
// built for the few hundred lookups `nsagent lsns` makes.
func (s *Snapshot) Process(pid int) *Process {
	i, ok := slices.BinarySearchFunc(s.Processes, pid, func(p *Process, pid int) int { return cmp.Compare(p.PID, pid) })
	if !ok {
		return nil
	}
	return s.Processes[i]
}

// Namespace returns the namespace of type t with inode ino, or nil.
func (s *Snapshot) Namespace(t NSType, ino uint64) *Namespace {
	return s.byNS[NSKey{t, ino}]
}

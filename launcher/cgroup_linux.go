package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsagent/nsagent/inventory"
)

// v1Controllers are the v1 hierarchies a workload gets a cgroup in. On a
// hybrid host (v1 controllers and a unified tree with nothing in it, as
// here) limits go to v1: the unified tree has no memory, cpu or pids.
var v1Controllers = []cgroup1.Name{cgroup1.Memory, cgroup1.Cpu, cgroup1.Cpuacct, cgroup1.Pids, cgroup1.Freezer}

// cpuPeriod is the CFS period --cpus is expressed in (docker's).
const cpuPeriod = 100000

// Cgroup is a workload's cgroup in whichever layout the host has.
type Cgroup struct {
	root string // cgroupfs root, e.g. /sys/fs/cgroup
	path string // absolute cgroup path, e.g. /nsagent/<id>
	mode inventory.CgroupMode
	v1   cgroup1.Cgroup
	v2   *cgroup2.Manager
}

// CgroupMode tells the cgroup layout under root.
func CgroupMode(root string) (inventory.CgroupMode, error) {
	return inventory.DetectCgroupMode(root)
}

func v1Hierarchy(root string) cgroup1.Hierarchy {
	return func() ([]cgroup1.Subsystem, error) {
		var ss []cgroup1.Subsystem
		for _, n := range v1Controllers {
			if _, err := os.Stat(filepath.Join(root, string(n))); err != nil {
				continue // controller not mounted here
			}
			switch n {
			case cgroup1.Memory:
				ss = append(ss, cgroup1.NewMemory(root))
			case cgroup1.Cpu:
				ss = append(ss, cgroup1.NewCpu(root))
			case cgroup1.Cpuacct:
				ss = append(ss, cgroup1.NewCpuacct(root))
			case cgroup1.Pids:
				ss = append(ss, cgroup1.NewPids(root))
			case cgroup1.Freezer:
				ss = append(ss, cgroup1.NewFreezer(root))
			}
		}
		return ss, nil
	}
}

// CreateCgroup makes the cgroup at path (absolute from the hierarchy
// root, never relative to the caller's cgroup, which on this kind of host
// is the machine supervisor's) with limits set.
func CreateCgroup(root, path string, l Limits) (*Cgroup, error) {
	mode, err := CgroupMode(root)
	if err != nil {
		return nil, err
	}
	c := &Cgroup{root: root, path: path, mode: mode}
	if mode == inventory.CgroupUnified {
		c.v2, err = cgroup2.NewManager(root, path, v2Resources(l))
	} else {
		c.v1, err = cgroup1.New(cgroup1.StaticPath(path), v1Resources(l), cgroup1.WithHierarchy(v1Hierarchy(root)))
	}
	if err != nil {
		c.Delete()
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	return c, nil
}

// LoadCgroup returns the handle of an existing workload cgroup (for exec,
// rm and gc) without creating anything.
func LoadCgroup(root, path string) (*Cgroup, error) {
	mode, err := CgroupMode(root)
	if err != nil {
		return nil, err
	}
	return &Cgroup{root: root, path: path, mode: mode}, nil
}

// Path is the cgroup's absolute path in its hierarchies.
func (c *Cgroup) Path() string { return c.path }

// Mode is the host's cgroup layout.
func (c *Cgroup) Mode() inventory.CgroupMode { return c.mode }

// Dirs lists the cgroup's directories, one per hierarchy it lives in.
func (c *Cgroup) Dirs() []string {
	if c.mode == inventory.CgroupUnified {
		return []string{filepath.Join(c.root, c.path)}
	}
	var dirs []string
	for _, n := range v1Controllers {
		if _, err := os.Stat(filepath.Join(c.root, string(n))); err == nil {
			dirs = append(dirs, filepath.Join(c.root, string(n), c.path))
		}
	}
	return dirs
}

// ProcsFiles lists the cgroup.procs files a process writes its pid to in
// order to join the cgroup (used by exec's constructor).
func (c *Cgroup) ProcsFiles() []string {
	var out []string
	for _, d := range c.Dirs() {
		out = append(out, filepath.Join(d, "cgroup.procs"))
	}
	return out
}

// AddProc moves pid (all its threads) into the cgroup. In v1 this ignores
// pids.max, which is what lets the Go init join a group whose task limit
// it alone would exceed.
func (c *Cgroup) AddProc(pid int) error {
	for _, f := range c.ProcsFiles() {
		if err := os.WriteFile(f, []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("move pid %d into %s: %w", pid, filepath.Dir(f), err)
		}
	}
	return nil
}

// OOMKills reads how many processes the kernel's OOM killer took in the
// cgroup: oom_kill in memory.oom_control (v1) or memory.events (v2).
// memory.failcnt is not used: it stays 0 on OOM kills on this kernel.
func (c *Cgroup) OOMKills() (uint64, error) {
	var file string
	if c.mode == inventory.CgroupUnified {
		file = filepath.Join(c.root, c.path, "memory.events")
	} else {
		file = filepath.Join(c.root, "memory", c.path, "memory.oom_control")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return parseKeyedValue(b, "oom_kill")
}

// MemoryUsage is the memory charged to the cgroup in bytes.
func (c *Cgroup) MemoryUsage() (uint64, error) {
	var file string
	if c.mode == inventory.CgroupUnified {
		file = filepath.Join(c.root, c.path, "memory.current")
	} else {
		file = filepath.Join(c.root, "memory", c.path, "memory.usage_in_bytes")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

func parseKeyedValue(b []byte, key string) (uint64, error) {
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		f := strings.Fields(string(line))
		if len(f) == 2 && f[0] == key {
			return strconv.ParseUint(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in cgroup file", key)
}

// Procs lists the pids in the cgroup (its memory hierarchy on v1).
func (c *Cgroup) Procs() ([]int, error) {
	dirs := c.Dirs()
	if len(dirs) == 0 {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dirs[0], "cgroup.procs"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// Delete removes the cgroup's directories; ones already gone are fine.
// The directories are removed with rmdir, never recursively: a cgroup
// with a child or a process in it stays and the error says so.
func (c *Cgroup) Delete() error {
	var errs []error
	for _, d := range c.Dirs() {
		if err := rmdirRetry(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rmdirRetry removes a cgroup directory; a cgroup whose last process was
// just reaped can be busy for a moment.
func rmdirRetry(dir string) error {
	var err error
	for i := 0; i < 50; i++ {
		err = os.Remove(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscallEBUSY) {
			break
		}
		sleepMillis(2)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}

func v1Resources(l Limits) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if l.Memory > 0 {
		mem := l.Memory
		swap := memSwap(l)
		r.Memory = &specs.LinuxMemory{Limit: &mem}
		if swap != 0 {
			r.Memory.Swap = &swap
		}
	}
	if l.CPUs > 0 {
		quota := int64(math.Round(l.CPUs * cpuPeriod))
		period := uint64(cpuPeriod)
		r.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if l.Pids > 0 {
		p := l.Pids
		r.Pids = &specs.LinuxPids{Limit: &p}
	}
	return r
}

// memSwap is docker's rule: unset swap means memory+swap = 2×memory.
func memSwap(l Limits) int64 {
	switch {
	case l.MemorySwap == 0:
		return 2 * l.Memory
	default:
		return l.MemorySwap
	}
}

func v2Resources(l Limits) *cgroup2.Resources {
	r := &cgroup2.Resources{}
	if l.Memory > 0 {
		mem := l.Memory
		r.Memory = &cgroup2.Memory{Max: &mem}
		if swap := memSwap(l); swap > 0 {
			s := swap - l.Memory // v2's memory.swap.max is swap alone
			r.Memory.Swap = &s
		}
	}
	if l.CPUs > 0 {
		quota := int64(math.Round(l.CPUs * cpuPeriod))
		period := uint64(cpuPeriod)
		r.CPU = &cgroup2.CPU{Max: cgroup2.NewCPUMax(&quota, &period)}
	}
	if l.Pids > 0 {
		r.Pids = &cgroup2.Pids{Max: l.Pids}
	}
	return r
}

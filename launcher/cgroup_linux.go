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

	"golang.org/x/sys/unix"

	"github.com/nsagent/nsagent/inventory/cgmode"
)

// v1Controllers are the v1 hierarchies a workload gets a cgroup in. On a
// hybrid host (v1 controllers and a unified tree with nothing in it, as
// here) limits go to v1: the unified tree has no memory, cpu or pids.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids", "freezer"}

// v2Controllers are enabled in the parents' cgroup.subtree_control on a
// unified host, so the workload's cgroup has their files.
var v2Controllers = []string{"memory", "cpu", "pids"}

// cpuPeriod is the CFS period --cpus is expressed in (docker's).
const cpuPeriod = 100000

// Cgroup is a workload's cgroup in whichever layout the host has.
//
// It writes cgroupfs itself rather than through containerd/cgroups, the
// design's choice, because of what that costs every launch: cgroup1
// links protobuf (its stats types) and go-systemd/dbus, cgroup2
// cilium/ebpf, and Go runs all their package initialisers on every start
// of the binary — twice per launch, in the launcher and in the re-exec'd
// init. Measured in one paired run (20 launches of /bin/true each, load
// ~15): binary 12.8 → 6.1 MB, package initialisers 16 → 10 ms per start,
// CPU per launch 89 → 83 ms (the same figures fall with the load). What
// the launcher writes is a handful of files: mkdir, the limit files of
// limitFiles, cgroup.procs, rmdir.
type Cgroup struct {
	root string // cgroupfs root, e.g. /sys/fs/cgroup
	path string // absolute cgroup path, e.g. /nsagent/<id>
	mode cgmode.Mode
}

// CgroupMode tells the cgroup layout under root.
func CgroupMode(root string) (cgmode.Mode, error) {
	return cgmode.Detect(root)
}

// cgroupFile is one value written to a controller's file when the cgroup
// is made. controller is the v1 hierarchy ("" on v2).
type cgroupFile struct {
	controller, name, value string
	// optional files are skipped when the kernel does not have them
	// (memory.memsw.* without swap accounting) and the user did not ask
	// for them explicitly.
	optional bool
}

// limitFiles turns limits into the files to write, in an order the
// kernel accepts (v1's memsw limit must never be below the memory limit,
// so memory goes first; the CFS period before the quota).
func limitFiles(mode cgmode.Mode, l Limits) []cgroupFile {
	var fs []cgroupFile
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	quota := int64(math.Round(l.CPUs * cpuPeriod))
	if mode == cgmode.Unified {
		if l.Memory > 0 {
			fs = append(fs, cgroupFile{name: "memory.max", value: i64(l.Memory)})
			switch swap := memSwap(l); {
			case swap < 0:
				fs = append(fs, cgroupFile{name: "memory.swap.max", value: "max", optional: true})
			case swap > 0:
				// v2's memory.swap.max is swap alone.
				fs = append(fs, cgroupFile{name: "memory.swap.max", value: i64(swap - l.Memory), optional: l.MemorySwap == 0})
			}
		}
		if l.CPUs > 0 {
			fs = append(fs, cgroupFile{name: "cpu.max", value: i64(quota) + " " + i64(cpuPeriod)})
		}
		if l.Pids > 0 {
			fs = append(fs, cgroupFile{name: "pids.max", value: i64(l.Pids)})
		}
		return fs
	}
	if l.Memory > 0 {
		fs = append(fs, cgroupFile{controller: "memory", name: "memory.limit_in_bytes", value: i64(l.Memory)},
			cgroupFile{controller: "memory", name: "memory.memsw.limit_in_bytes", value: i64(memSwap(l)), optional: l.MemorySwap == 0})
	}
	if l.CPUs > 0 {
		fs = append(fs, cgroupFile{controller: "cpu", name: "cpu.cfs_period_us", value: i64(cpuPeriod)},
			cgroupFile{controller: "cpu", name: "cpu.cfs_quota_us", value: i64(quota)})
	}
	if l.Pids > 0 {
		fs = append(fs, cgroupFile{controller: "pids", name: "pids.max", value: i64(l.Pids)})
	}
	return fs
}

// memSwap is docker's rule: unset swap means memory+swap = 2×memory.
func memSwap(l Limits) int64 {
	if l.MemorySwap == 0 {
		return 2 * l.Memory
	}
	return l.MemorySwap
}

// CreateCgroup makes the cgroup at path (absolute from the hierarchy
// root, never relative to the caller's cgroup, which on this kind of host
// is the machine supervisor's) with limits set. On failure nothing it
// made is left.
func CreateCgroup(root, path string, l Limits) (_ *Cgroup, err error) {
	mode, err := CgroupMode(root)
	if err != nil {
		return nil, err
	}
	c := &Cgroup{root: root, path: path, mode: mode}
	defer func() {
		if err != nil {
			_ = c.Delete()
			err = fmt.Errorf("create cgroup %s: %w", path, err)
		}
	}()
	if mode == cgmode.Unified {
		if err := c.enableV2Controllers(); err != nil {
			return nil, err
		}
	}
	for _, d := range c.Dirs() {
		// The parents (the cgroup parent) may be shared with other
		// workloads: made if missing, never removed here.
		if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
			return nil, err
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, f := range limitFiles(mode, l) {
		p := filepath.Join(root, f.controller, path, f.name)
		if err := writeCgroupFile(p, f.value); err != nil {
			if f.optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("set %s: %w", f.name, err)
		}
	}
	return c, nil
}

// enableV2Controllers writes +memory +cpu +pids into the subtree_control
// of every cgroup from the root down to the workload's parent (as
// containerd's cgroup2.NewManager does), making the parents as it goes.
func (c *Cgroup) enableV2Controllers() error {
	b, err := os.ReadFile(filepath.Join(c.root, "cgroup.controllers"))
	if err != nil {
		return err
	}
	have := strings.Fields(string(b))
	var want []string
	for _, ctl := range v2Controllers {
		for _, h := range have {
			if h == ctl {
				want = append(want, "+"+ctl)
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	dir := c.root
	comps := strings.Split(strings.Trim(filepath.Dir(c.path), "/"), "/")
	for i := 0; ; i++ {
		if err := writeCgroupFile(filepath.Join(dir, "cgroup.subtree_control"), strings.Join(want, " ")); err != nil {
			return fmt.Errorf("enable controllers in %s: %w", dir, err)
		}
		if i == len(comps) || comps[i] == "" {
			return nil
		}
		dir = filepath.Join(dir, comps[i])
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
}

// writeCgroupFile writes one value to an existing cgroupfs file: no
// O_CREAT (a missing file is an error, never a new file), close-on-exec.
func writeCgroupFile(p, v string) error {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(v)); err != nil {
		return &fs.PathError{Op: "write", Path: p, Err: err}
	}
	return nil
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
func (c *Cgroup) Mode() cgmode.Mode { return c.mode }

// Dirs lists the cgroup's directories, one per hierarchy it lives in.
func (c *Cgroup) Dirs() []string {
	if c.mode == cgmode.Unified {
		return []string{filepath.Join(c.root, c.path)}
	}
	var dirs []string
	for _, n := range v1Controllers {
		if _, err := os.Stat(filepath.Join(c.root, n)); err == nil {
			dirs = append(dirs, filepath.Join(c.root, n, c.path))
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
// pids.max.
func (c *Cgroup) AddProc(pid int) error {
	for _, f := range c.ProcsFiles() {
		if err := writeCgroupFile(f, strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("move pid %d into %s: %w", pid, filepath.Dir(f), err)
		}
	}
	return nil
}

// openProcs opens the cgroup.procs files for the init to write itself
// into (close-on-exec here; the init gets them as inherited fds).
func (c *Cgroup) openProcs() ([]*os.File, error) {
	var fs []*os.File
	for _, p := range c.ProcsFiles() {
		f, err := os.OpenFile(p, os.O_WRONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			closeAll(fs)
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// OOMKills reads how many processes the kernel's OOM killer took in the
// cgroup: oom_kill in memory.oom_control (v1) or memory.events (v2).
// memory.failcnt is not used: it stays 0 on OOM kills on this kernel.
func (c *Cgroup) OOMKills() (uint64, error) {
	b, err := c.readMemoryFile("memory.oom_control", "memory.events")
	if err != nil {
		return 0, err
	}
	return parseKeyedValue(b, "oom_kill")
}

// MemoryUsage is the memory charged to the cgroup in bytes.
func (c *Cgroup) MemoryUsage() (uint64, error) {
	b, err := c.readMemoryFile("memory.usage_in_bytes", "memory.current")
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// readMemoryFile reads a file of the cgroup's memory controller: v1's name
// in the memory hierarchy, or v2's in the unified one.
func (c *Cgroup) readMemoryFile(v1, v2 string) ([]byte, error) {
	if c.mode == cgmode.Unified {
		return os.ReadFile(filepath.Join(c.root, c.path, v2))
	}
	return os.ReadFile(filepath.Join(c.root, "memory", c.path, v1))
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
// just reaped can be busy for a moment. rmdir(2) straight away: os.Remove
// tries unlink(2) first, a failing system call per hierarchy.
func rmdirRetry(dir string) error {
	var err error
	for i := 0; i < 50; i++ {
		err = unix.Rmdir(dir)
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

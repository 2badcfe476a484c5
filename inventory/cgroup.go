package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nsagent/nsagent/inventory/cgmode"
)

// The reading side of cgroups is written here rather than through
// containerd/cgroups (which the launcher uses to set limits): its v1 loader
// finds hierarchies through the caller's /proc/self/mountinfo rather than a
// root we pass in, so it cannot read a host mounted at /host or a fixture
// tree, and its Mode() statfs()es /sys/fs/cgroup itself. Here the cgroupfs
// root is an argument and the layout is told from the files present.

// v1MemoryUnlimited is the smallest value v1 reports for "no limit":
// PAGE_COUNTER_MAX pages, rounded down to a page (0x7FFFFFFFFFFFF000).
const v1MemoryUnlimited = 0x7FFFFFFFFFFFF000

// hierarchy is one cgroupfs mount under the cgroupfs root.
type hierarchy struct {
	dir         string   // absolute directory
	v2          bool     // cgroup2
	unifiedOnly bool     // the host is cgroup v2 only (not hybrid)
	controllers []string // v1: bound controllers; v2: nil (per-group cgroup.controllers)
}

// DetectCgroupMode tells the layout under a cgroupfs root from the files
// present (cgmode.Detect).
func DetectCgroupMode(root string) (CgroupMode, error) { return cgmode.Detect(root) }

// hierarchies lists the cgroup mounts under root. Symlinks (cpu ->
// cpu,cpuacct on systemd hosts) are skipped so no hierarchy is read twice.
func hierarchies(root string, mode CgroupMode) ([]hierarchy, error) {
	if mode == CgroupUnified {
		return []hierarchy{{dir: root, v2: true, unifiedOnly: true}}, nil
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("cgroupfs root %s: %w", root, err)
	}
	var hs []hierarchy
	for _, e := range ents {
		if !e.IsDir() { // also false for symlinks
			continue
		}
		dir := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
			continue
		}
		if e.Name() == "unified" && mode == CgroupHybrid {
			hs = append(hs, hierarchy{dir: dir, v2: true})
			continue
		}
		var ctrls []string
		for _, c := range strings.Split(e.Name(), ",") {
			if c == "systemd" {
				c = "name=systemd"
			}
			ctrls = append(ctrls, c)
		}
		hs = append(hs, hierarchy{dir: dir, controllers: ctrls})
	}
	return hs, nil
}

// ReadCgroups walks every hierarchy under a cgroupfs root and merges the
// same path across v1 hierarchies into one Cgroup, so a v1, hybrid and v2
// host come out in one form. A cgroup removed during the walk is left out.
func ReadCgroups(root string) (*Cgroups, error) {
	mode, err := DetectCgroupMode(root)
	if err != nil {
		return nil, err
	}
	hs, err := hierarchies(root, mode)
	if err != nil {
		return nil, err
	}
	primary := primaryHierarchy(hs, mode)
	groups := make(map[string]*Cgroup)
	for i, h := range hs {
		err := filepath.WalkDir(h.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed during the walk
				}
				return err
			}
			if !d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(h.dir, path)
			cgPath := "/" + filepath.ToSlash(rel)
			if rel == "." {
				cgPath = "/"
			}
			g := groups[cgPath]
			if g == nil {
				g = &Cgroup{Path: cgPath}
				groups[cgPath] = g
			}
			readGroup(g, path, h, i == primary)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk cgroup hierarchy %s: %w", h.dir, err)
		}
	}
	out := &Cgroups{Mode: mode, Groups: make([]*Cgroup, 0, len(groups))}
	for _, g := range groups {
		sort.Strings(g.Controllers)
		out.Groups = append(out.Groups, g)
	}
	sort.Slice(out.Groups, func(i, j int) bool { return out.Groups[i].Path < out.Groups[j].Path })
	return out, nil
}

// primaryHierarchy picks the hierarchy whose cgroup.procs counts a group's
// processes: the unified one on v2, else memory, else the first.
func primaryHierarchy(hs []hierarchy, mode CgroupMode) int {
	for i, h := range hs {
		if mode == CgroupUnified && h.v2 {
			return i
		}
		if !h.v2 && slices.Contains(h.controllers, "memory") {
			return i
		}
	}
	return 0
}

// readGroup reads the controller files of one cgroup directory into g.
func readGroup(g *Cgroup, dir string, h hierarchy, primary bool) {
	r := groupReader{dir: dir, g: g}
	if primary {
		if b, err := r.read("cgroup.procs"); err == nil {
			g.Procs = bytes.Count(b, []byte{'\n'})
		}
	}
	if h.v2 {
		readV2(&r, g, h.unifiedOnly)
		return
	}
	for _, c := range h.controllers {
		if !slices.Contains(g.Controllers, c) {
			g.Controllers = append(g.Controllers, c)
		}
		switch c {
		case "memory":
			readV1Memory(&r, g)
		case "cpu":
			readV1CPU(&r, g)
		case "cpuacct":
			if v, ok := r.uint("cpuacct.usage"); ok {
				cpu(g).UsageNanos = v
			}
		case "pids":
			readPids(&r, g)
		}
	}
}

// groupReader reads the files of one cgroup, recording unexpected errors
// on the group. A missing file is not an error: the root cgroup and older
// kernels lack many.
type groupReader struct {
	dir string
	g   *Cgroup
}

func (r *groupReader) read(name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
		r.g.Errors = append(r.g.Errors, fmt.Sprintf("read %s: %v", name, err))
	}
	return b, err
}

// uint reads a file holding one unsigned number.
func (r *groupReader) uint(name string) (uint64, bool) {
	b, err := r.read(name)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		r.g.Errors = append(r.g.Errors, fmt.Sprintf("parse %s: %v", name, err))
		return 0, false
	}
	return v, true
}

// maxValue reads a file holding a number or "max" (nil).
func (r *groupReader) maxValue(name string) (*uint64, bool) {
	b, err := r.read(name)
	if err != nil {
		return nil, false
	}
	v, err := parseMax(b)
	if err != nil {
		r.g.Errors = append(r.g.Errors, fmt.Sprintf("parse %s: %v", name, err))
		return nil, false
	}
	return v, true
}

// keyed reads a flat keyed file ("key value" lines).
func (r *groupReader) keyed(name string) (map[string]uint64, bool) {
	b, err := r.read(name)
	if err != nil {
		return nil, false
	}
	return parseKeyed(b), true
}

func memory(g *Cgroup) *Memory {
	if g.Memory == nil {
		g.Memory = &Memory{}
	}
	return g.Memory
}

func cpu(g *Cgroup) *CPU {
	if g.CPU == nil {
		g.CPU = &CPU{}
	}
	return g.CPU
}

func readV1Memory(r *groupReader, g *Cgroup) {
	m := memory(g)
	if v, ok := r.uint("memory.limit_in_bytes"); ok && v < v1MemoryUnlimited {
		m.LimitBytes = &v
	}
	if v, ok := r.uint("memory.memsw.limit_in_bytes"); ok && v < v1MemoryUnlimited {
		m.SwapLimitBytes = &v
	}
	m.UsageBytes, _ = r.uint("memory.usage_in_bytes")
	m.MaxUsageBytes, _ = r.uint("memory.max_usage_in_bytes")
	if kv, ok := r.keyed("memory.oom_control"); ok {
		m.OOMKills = kv["oom_kill"]
	}
	if kv, ok := r.keyed("memory.stat"); ok {
		m.WorkingSetBytes = workingSet(m.UsageBytes, kv["total_inactive_file"])
	}
}

func readV1CPU(r *groupReader, g *Cgroup) {
	c := cpu(g)
	if b, err := r.read("cpu.cfs_quota_us"); err == nil {
		if q, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && q >= 0 {
			c.QuotaMicros = &q
		}
	}
	c.PeriodMicros, _ = r.uint("cpu.cfs_period_us")
	if kv, ok := r.keyed("cpu.stat"); ok {
		c.NrPeriods, c.NrThrottled = kv["nr_periods"], kv["nr_throttled"]
		c.ThrottledNanos = kv["throttled_time"]
	}
}

func readPids(r *groupReader, g *Cgroup) {
	max, okMax := r.maxValue("pids.max")
	cur, okCur := r.uint("pids.current")
	if okMax || okCur {
		g.Pids = &Pids{Max: max, Current: cur}
	}
}

// readV2 reads a cgroup v2 directory: the controllers enabled for it, and
// the files of each. On a hybrid host the v1 hierarchies own cpu, memory and
// pids; the unified tree adds only what it carries itself (PSI, and
// whatever controllers were moved to it).
func readV2(r *groupReader, g *Cgroup, unifiedOnly bool) {
	b, err := r.read("cgroup.controllers")
	if err != nil {
		return
	}
	ctrls := strings.Fields(string(b))
	for _, c := range ctrls {
		if !slices.Contains(g.Controllers, c) {
			g.Controllers = append(g.Controllers, c)
		}
	}
	if slices.Contains(ctrls, "memory") {
		m := memory(g)
		if v, ok := r.maxValue("memory.max"); ok {
			m.LimitBytes = v
		}
		if v, ok := r.maxValue("memory.swap.max"); ok {
			m.SwapLimitBytes = v
		}
		m.UsageBytes, _ = r.uint("memory.current")
		m.MaxUsageBytes, _ = r.uint("memory.peak")
		if kv, ok := r.keyed("memory.events"); ok {
			m.OOMKills = kv["oom_kill"]
		}
		if kv, ok := r.keyed("memory.stat"); ok {
			m.WorkingSetBytes = workingSet(m.UsageBytes, kv["inactive_file"])
		}
	}
	// cpu.stat exists in every v2 group; its throttling lines only with
	// the cpu controller.
	if !unifiedOnly && !slices.Contains(ctrls, "cpu") {
		// hybrid: v1 cpu and cpuacct have the same figures
	} else if kv, ok := r.keyed("cpu.stat"); ok {
		c := cpu(g)
		c.UsageNanos = kv["usage_usec"] * 1000
		c.NrPeriods, c.NrThrottled = kv["nr_periods"], kv["nr_throttled"]
		c.ThrottledNanos = kv["throttled_usec"] * 1000
	}
	if slices.Contains(ctrls, "cpu") {
		if b, err := r.read("cpu.max"); err == nil {
			quota, period, err := parseCPUMax(b)
			if err != nil {
				g.Errors = append(g.Errors, fmt.Sprintf("parse cpu.max: %v", err))
			} else {
				c := cpu(g)
				c.QuotaMicros, c.PeriodMicros = quota, period
			}
		}
	}
	if slices.Contains(ctrls, "pids") {
		readPids(r, g)
	}
	for _, res := range []string{"cpu", "memory", "io"} {
		b, err := r.read(res + ".pressure")
		if err != nil || len(b) == 0 {
			continue
		}
		p, err := parsePSI(b)
		if err != nil {
			g.Errors = append(g.Errors, fmt.Sprintf("parse %s.pressure: %v", res, err))
			continue
		}
		if g.PSI == nil {
			g.PSI = make(map[string]PSI, 3)
		}
		g.PSI[res] = p
	}
}

func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile > usage {
		return 0
	}
	return usage - inactiveFile
}

// parseMax parses "max" (nil: unlimited) or a decimal number.
func parseMax(b []byte) (*uint64, error) {
	s := string(bytes.TrimSpace(b))
	if s == "max" {
		return nil, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// parseCPUMax parses cgroup v2 cpu.max: "QUOTA PERIOD" where QUOTA may be
// "max".
func parseCPUMax(b []byte) (*int64, uint64, error) {
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return nil, 0, fmt.Errorf("cpu.max %q: want QUOTA PERIOD", b)
	}
	period, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("cpu.max period: %w", err)
	}
	if f[0] == "max" {
		return nil, period, nil
	}
	q, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("cpu.max quota: %w", err)
	}
	return &q, period, nil
}

// parseKeyed parses a flat keyed file; lines that are not "key number" are
// skipped.
func parseKeyed(b []byte) map[string]uint64 {
	kv := make(map[string]uint64)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		kv[k] = n
	}
	return kv
}

// parsePSI parses a pressure file ("some avg10=… total=…", "full …").
func parsePSI(b []byte) (PSI, error) {
	var p PSI
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var avg10 float64
		var total uint64
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return p, fmt.Errorf("pressure field %q: want KEY=VALUE", kv)
			}
			var err error
			switch k {
			case "avg10":
				avg10, err = strconv.ParseFloat(v, 64)
			case "total":
				total, err = strconv.ParseUint(v, 10, 64)
			}
			if err != nil {
				return p, fmt.Errorf("pressure %s: %w", k, err)
			}
		}
		switch f[0] {
		case "some":
			p.SomeAvg10, p.SomeTotalMicros = avg10, total
		case "full":
			p.FullAvg10, p.FullTotalMicros = avg10, total
		default:
			return p, fmt.Errorf("pressure line %q: want some or full", line)
		}
	}
	return p, nil
}

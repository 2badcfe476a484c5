package containers

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Each runtime's metadata is parsed from bytes by a parse* function and
// read through fileCache, which re-parses a file only when its size or
// mtime changed: a runc state.json is about 30 KB of JSON, and `nsagent
// serve` describes the same containers on every scrape.

// dockerConfig is the part of Docker's containers/<id>/config.v2.json used.
type dockerConfig struct {
	ID     string `json:"ID"`
	Name   string `json:"Name"`
	Config struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	State struct {
		Running bool `json:"Running"`
		Pid     int  `json:"Pid"`
	} `json:"State"`
}

// dockerHostConfig is the part of Docker's containers/<id>/hostconfig.json
// used: what the user asked for.
type dockerHostConfig struct {
	Memory     int64  `json:"Memory"`
	PidsLimit  *int64 `json:"PidsLimit"`
	NanoCpus   int64  `json:"NanoCpus"`
	CPUQuota   int64  `json:"CpuQuota"`
	CPUPeriod  int64  `json:"CpuPeriod"`
	Privileged bool   `json:"Privileged"`
}

func parseDockerConfig(b []byte) (any, error) {
	var c dockerConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse docker config.v2.json: %w", err)
	}
	c.Name = strings.TrimPrefix(c.Name, "/")
	return &c, nil
}

func parseDockerHostConfig(b []byte) (any, error) {
	var c dockerHostConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse docker hostconfig.json: %w", err)
	}
	return &c, nil
}

// dockerDefaultCPUPeriod is the CFS period Docker uses for --cpus.
const dockerDefaultCPUPeriod = 100000

// limits turns Docker's requested resources into Limits: 0 means unset
// for memory and CPU, and ≤ 0 means unlimited for pids.
func (h *dockerHostConfig) limits() *Limits {
	l := &Limits{}
	if h.Memory > 0 {
		v := uint64(h.Memory)
		l.MemoryBytes = &v
	}
	if h.PidsLimit != nil && *h.PidsLimit > 0 {
		v := uint64(*h.PidsLimit)
		l.Pids = &v
	}
	switch {
	case h.NanoCpus > 0:
		q := h.NanoCpus * dockerDefaultCPUPeriod / 1e9
		l.CPUQuotaMicros, l.CPUPeriodMicros = &q, dockerDefaultCPUPeriod
	case h.CPUQuota > 0:
		q := h.CPUQuota
		l.CPUQuotaMicros, l.CPUPeriodMicros = &q, dockerDefaultCPUPeriod
		if h.CPUPeriod > 0 {
			l.CPUPeriodMicros = uint64(h.CPUPeriod)
		}
	}
	return l
}

// ociSpec is the part of an OCI bundle's config.json used.
type ociSpec struct {
	Annotations map[string]string `json:"annotations"`
	Hostname    string            `json:"hostname"`
	Linux       *struct {
		CgroupsPath string `json:"cgroupsPath"`
		Resources   *struct {
			Memory *struct {
				Limit *int64 `json:"limit"`
			} `json:"memory"`
			CPU *struct {
				Quota  *int64  `json:"quota"`
				Period *uint64 `json:"period"`
			} `json:"cpu"`
			Pids *struct {
				Limit int64 `json:"limit"`
			} `json:"pids"`
		} `json:"resources"`
	} `json:"linux"`
}

func parseOCISpec(b []byte) (any, error) {
	var s ociSpec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse OCI config.json: %w", err)
	}
	return &s, nil
}

// limits returns the resources the spec asks for, nil if it sets none.
func (s *ociSpec) limits() *Limits {
	if s.Linux == nil || s.Linux.Resources == nil {
		return nil
	}
	r := s.Linux.Resources
	l := &Limits{}
	if r.Memory != nil && r.Memory.Limit != nil && *r.Memory.Limit > 0 {
		v := uint64(*r.Memory.Limit)
		l.MemoryBytes = &v
	}
	if r.CPU != nil && r.CPU.Quota != nil && *r.CPU.Quota > 0 {
		q := *r.CPU.Quota
		l.CPUQuotaMicros = &q
		if r.CPU.Period != nil {
			l.CPUPeriodMicros = *r.CPU.Period
		}
	}
	if r.Pids != nil && r.Pids.Limit > 0 {
		v := uint64(r.Pids.Limit)
		l.Pids = &v
	}
	return l
}

// runcState is the part of runc's <root>/<id>/state.json used.
type runcState struct {
	ID          string            `json:"id"`
	InitPID     int               `json:"init_process_pid"`
	InitStart   json.Number       `json:"init_process_start"`
	CgroupPaths map[string]string `json:"cgroup_paths"`
	Config      struct {
		Labels  []string `json:"labels"`
		Cgroups *struct {
			Path      string `json:"path"`
			Memory    int64  `json:"memory"`
			PidsLimit int64  `json:"pids_limit"`
			CPUQuota  int64  `json:"cpu_quota"`
			CPUPeriod uint64 `json:"cpu_period"`
		} `json:"cgroups"`
	} `json:"config"`
}

func parseRuncState(b []byte) (any, error) {
	var s runcState
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse runc state.json: %w", err)
	}
	return &s, nil
}

// bundle returns the bundle directory runc recorded in its labels.
func (s *runcState) bundle() string {
	for _, l := range s.Config.Labels {
		if v, ok := strings.CutPrefix(l, "bundle="); ok {
			return v
		}
	}
	return ""
}

// startTicks is init_process_start, which runc writes as a number (1.1)
// or a string (older); 0 if neither.
func (s *runcState) startTicks() uint64 {
	v, err := s.InitStart.Int64()
	if err != nil || v < 0 {
		return 0
	}
	return uint64(v)
}

// limits returns the resources runc was configured with.
func (s *runcState) limits() *Limits {
	c := s.Config.Cgroups
	if c == nil {
		return nil
	}
	l := &Limits{}
	if c.Memory > 0 {
		v := uint64(c.Memory)
		l.MemoryBytes = &v
	}
	if c.PidsLimit > 0 {
		v := uint64(c.PidsLimit)
		l.Pids = &v
	}
	if c.CPUQuota > 0 {
		q := c.CPUQuota
		l.CPUQuotaMicros, l.CPUPeriodMicros = &q, c.CPUPeriod
	}
	return l
}

// nsagentState is the best-effort part of nsagent's own workload state
// (/run/nsagent/<workload>.json), whose schema the launcher owns. Only
// fields that any version is expected to keep are read.
type nsagentState struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	PID    int    `json:"pid"`
	Cgroup string `json:"cgroup"`
}

func parseNsagentState(b []byte) (any, error) {
	var s nsagentState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse nsagent state: %w", err)
	}
	return &s, nil
}

// fileCache holds parsed files keyed by path, valid while size and mtime
// stay the same.
type fileCache struct {
	mu sync.Mutex
	m  map[string]cachedFile
}

type cachedFile struct {
	size  int64
	mtime time.Time
	val   any
	seen  bool // used in the current pass; unused entries are dropped
}

// load returns the parsed content of path, from the cache when the file is
// unchanged. A missing file returns (nil, nil): metadata is optional.
func (c *fileCache) load(path string, parse func([]byte) (any, error)) (any, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	c.mu.Lock()
	if e, ok := c.m[path]; ok && e.size == fi.Size() && e.mtime.Equal(fi.ModTime()) {
		e.seen = true
		c.m[path] = e
		c.mu.Unlock()
		return e.val, nil
	}
	c.mu.Unlock()
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	v, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]cachedFile)
	}
	c.m[path] = cachedFile{size: fi.Size(), mtime: fi.ModTime(), val: v, seen: true}
	c.mu.Unlock()
	return v, nil
}

// sweep drops entries not used since the last sweep, so removed
// containers do not stay cached.
func (c *fileCache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if !e.seen {
			delete(c.m, k)
			continue
		}
		e.seen = false
		c.m[k] = e
	}
}

package containers

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/nsagent/nsagent/inventory"
)

// Options are the roots Discover reads. Paths other than Procfs and Rootfs
// are as the host names them and are read under Rootfs, so a host mounted
// at /host, or a fixture tree, stands in for the live one.
type Options struct {
	// Procfs is the procfs root (default /proc): shims' cwd (their bundle)
	// and sys/kernel/cap_last_cap are read from it.
	Procfs string
	// Rootfs is the host's / (default /).
	Rootfs string
	// DockerRoot is Docker's data root (default: dockerd's --data-root,
	// else /var/lib/docker).
	DockerRoot string
	// RuncRoots are the directories holding runc's <id>/state.json
	// (default: /run/runc, /run/docker/runtime-runc/*,
	// /run/containerd/runc/*).
	RuncRoots []string
	// NsagentState is nsagent's workload state directory (default
	// /run/nsagent).
	NsagentState string
}

func (o Options) withDefaults() Options {
	if o.Procfs == "" {
		o.Procfs = "/proc"
	}
	if o.Rootfs == "" {
		o.Rootfs = "/"
	}
	if o.RuncRoots == nil {
		o.RuncRoots = []string{"/run/runc", "/run/docker/runtime-runc/*", "/run/containerd/runc/*"}
	}
	if o.NsagentState == "" {
		o.NsagentState = "/run/nsagent"
	}
	return o
}

// Discoverer describes the containers of successive snapshots, keeping
// parsed runtime metadata between calls while the files are unchanged.
// It is safe for use by one goroutine at a time.
type Discoverer struct {
	opts    Options
	cache   fileCache
	lastCap int
}

// NewDiscoverer returns a Discoverer reading the roots in opts.
func NewDiscoverer(opts Options) *Discoverer {
	opts = opts.withDefaults()
	d := &Discoverer{opts: opts, lastCap: 40}
	if b, err := os.ReadFile(filepath.Join(opts.Procfs, "sys/kernel/cap_last_cap")); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v > 0 && v < 64 {
			d.lastCap = v
		}
	}
	return d
}

// Discover describes the containers of snap with a fresh Discoverer.
func Discover(snap *inventory.Snapshot, opts Options) (*Result, error) {
	return NewDiscoverer(opts).Discover(snap)
}

// host returns the path under Rootfs of a path as the host names it.
func (d *Discoverer) host(p string) string { return filepath.Join(d.opts.Rootfs, p) }

// builder gathers what is known of one container before it is described.
type builder struct {
	c       *Container
	procs   map[int]bool
	initPID int // from runtime metadata, if any
	runc    *runcState
	runcRT  Runtime // runtime implied by the runc root the state was in
	conmon  conmonArgs
	nsagent *nsagentState
	shim    shimArgs
	shimCwd string
}

// discovery is the state of one Discover call.
type discovery struct {
	d        *Discoverer
	snap     *inventory.Snapshot
	res      *Result
	byID     map[string]*builder
	order    []string
	children map[int][]int
	host     inventory.NSSet
}

// Discover classifies every process of snap, finds the containers in it
// and flags what looks wrong. Unreadable metadata is reported in
// Result.Errors; it never hides a container that the cgroups show.
func (d *Discoverer) Discover(snap *inventory.Snapshot) (*Result, error) {
	if snap == nil {
		return nil, fmt.Errorf("discover containers: no snapshot")
	}
	x := &discovery{
		d: d, snap: snap,
		res: &Result{
			Roles: map[int]Role{}, ContainerOf: map[int]string{},
			LogicalParents: map[int]int{}, Containers: []*Container{}, Findings: []Finding{},
		},
		byID:     map[string]*builder{},
		children: make(map[int][]int, len(snap.Processes)),
		host:     snap.HostNS(),
	}
	var shims, conmons, containerds, crios, dockerds []*inventory.Process
	for _, p := range snap.Processes {
		if p.State != "Z" {
			x.children[p.PPID] = append(x.children[p.PPID], p.PID)
		}
		role := classify(p)
		switch role {
		case RoleShim:
			shims = append(shims, p)
		case RoleConmon:
			conmons = append(conmons, p)
		case RoleContainerd:
			containerds = append(containerds, p)
		case RoleCRIO:
			crios = append(crios, p)
		case RoleDockerd:
			dockerds = append(dockerds, p)
		}
		if role != RoleHost {
			x.res.Roles[p.PID] = role
		}
		m, ok := matchCgroup(p.CgroupPath("memory"))
		if !ok {
			continue
		}
		if m.Conmon {
			// conmon's own scope names its container; conmon is found
			// again by its arguments below.
			continue
		}
		b := x.get(m.ID)
		if b.c.Cgroup == "" {
			b.c.Cgroup, b.c.Runtime = m.Cgroup, m.Runtime
			b.c.Sources = append(b.c.Sources, "cgroup")
			if m.PodUID != "" {
				b.c.Pod = &Pod{UID: m.PodUID}
			}
		}
		b.procs[p.PID] = true
	}
	x.readRuncStates()
	x.readShims(shims, containerds)
	x.readConmons(conmons, crios)
	x.readNsagent()
	dockerRoot := d.dockerRoot(dockerds)
	for _, id := range x.order {
		x.describe(x.byID[id], dockerRoot)
	}
	x.findEntrants()
	x.findOrphanShims(shims)
	x.findIdleNamespaces()
	d.cache.sweep()

	sort.Slice(x.res.Containers, func(i, j int) bool {
		a, b := x.res.Containers[i], x.res.Containers[j]
		if a.Runtime != b.Runtime {
			return a.Runtime < b.Runtime
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	return x.res, nil
}

// get returns the builder for id, making it on first use.
func (x *discovery) get(id string) *builder {
	b := x.byID[id]
	if b == nil {
		b = &builder{c: &Container{ID: id}, procs: map[int]bool{}}
		x.byID[id] = b
		x.order = append(x.order, id)
	}
	return b
}

func (x *discovery) errorf(format string, a ...any) {
	x.res.Errors = append(x.res.Errors, fmt.Sprintf(format, a...))
}

// alive reports whether pid runs in the snapshot and, if start is known,
// is the same process runc started (not a reused pid).
func (x *discovery) alive(pid int, start uint64) bool {
	p := x.snap.Process(pid)
	return p != nil && p.State != "Z" && (start == 0 || p.StartTicks == start)
}

// addCgroupOf makes the cgroup of pid the container's, when no runtime
// cgroup pattern found one (a bare runc container with its own
// cgroupsPath), and collects the processes in it.
func (x *discovery) addCgroupOf(b *builder, pid int) {
	p := x.snap.Process(pid)
	if p == nil || b.c.Cgroup != "" {
		return
	}
	cg := p.CgroupPath("memory")
	if cg == "" || cg == "/" {
		b.procs[pid] = true
		return
	}
	b.c.Cgroup = cg
	for _, q := range x.snap.Processes {
		qc := q.CgroupPath("memory")
		if qc == cg || strings.HasPrefix(qc, cg+"/") {
			b.procs[q.PID] = true
		}
	}
}

// readRuncStates reads every runc state.json under the runc roots. A state
// whose init is alive names a container (bare runc ones are found only
// this way); one whose init is gone is a container stopped and not
// deleted.
func (x *discovery) readRuncStates() {
	for _, root := range x.d.opts.RuncRoots {
		dirs, _ := filepath.Glob(x.d.host(root))
		for _, dir := range dirs {
			rt := RuntimeRunc
			switch {
			case strings.Contains(root, "/docker/"):
				rt = RuntimeDocker
			case strings.Contains(root, "/containerd/"):
				rt = RuntimeContainerd
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				if !e.IsDir() {
					continue
				}
				v, err := x.d.cache.load(filepath.Join(dir, e.Name(), "state.json"), parseRuncState)
				if err != nil {
					x.errorf("%v", err)
					continue
				}
				if v == nil {
					continue
				}
				s := v.(*runcState)
				if s.ID == "" {
					s.ID = e.Name()
				}
				if !x.alive(s.InitPID, s.startTicks()) {
					x.res.Findings = append(x.res.Findings, Finding{
						Kind: "stale-runtime-state", ContainerID: s.ID,
						Message: fmt.Sprintf("runc state %s names init pid %d, which is gone: stopped and not deleted", filepath.Join(dir, e.Name()), s.InitPID),
					})
					continue
				}
				b := x.get(s.ID)
				b.runc, b.runcRT, b.initPID = s, rt, s.InitPID
				b.c.Sources = append(b.c.Sources, "runc-state")
				if b.c.Bundle == "" {
					b.c.Bundle = s.bundle()
				}
				x.addCgroupOf(b, s.InitPID)
			}
		}
	}
}

// readShims ties each containerd shim to its container and to the
// containerd it serves (its logical parent: shims re-parent to PID 1).
func (x *discovery) readShims(shims, containerds []*inventory.Process) {
	for _, s := range shims {
		a := parseShimArgs(s.Cmdline)
		if lp := containerdFor(a.Address, containerds); lp != 0 && lp != s.PPID {
			x.res.LogicalParents[s.PID] = lp
		}
		cwd, _ := os.Readlink(filepath.Join(x.d.opts.Procfs, strconv.Itoa(s.PID), "cwd"))
		if cwd == "" {
			cwd = a.Workdir
		}
		// The shim's children are the containers it supervises: one, or
		// every container of a pod (the shim's id is then the sandbox's).
		for _, child := range x.children[s.PID] {
			id := x.containerOfPID(child)
			if id == "" {
				continue
			}
			b := x.byID[id]
			if b.c.ShimPID != 0 {
				continue
			}
			b.c.ShimPID, b.shim = s.PID, a
			b.c.RuntimeNamespace = a.Namespace
			b.c.Sources = append(b.c.Sources, "shim")
			if b.c.Bundle == "" && cwd != "" {
				// Under a pod shim each container has its own bundle
				// beside the sandbox's.
				b.c.Bundle = path.Join(path.Dir(cwd), id)
			}
		}
	}
}

// containerOfPID returns the id of the container whose processes include
// pid, or "".
func (x *discovery) containerOfPID(pid int) string {
	for _, id := range x.order {
		if x.byID[id].procs[pid] {
			return id
		}
	}
	return ""
}

// containerdFor finds the containerd serving socket address: the one
// started with that --address, or with a --config beside it (dockerd's
// own containerd), or the only one.
func containerdFor(address string, containerds []*inventory.Process) int {
	address = normRun(strings.TrimPrefix(address, "unix://"))
	if len(containerds) == 0 {
		return 0
	}
	for _, c := range containerds {
		for i, arg := range c.Cmdline {
			val := ""
			if i+1 < len(c.Cmdline) {
				val = normRun(c.Cmdline[i+1])
			}
			switch {
			case (arg == "--address" || arg == "-a") && val == address:
				return c.PID
			case (arg == "--config" || arg == "-c") && address != "" && path.Dir(val) == path.Dir(address):
				return c.PID
			}
		}
	}
	if len(containerds) == 1 {
		return containerds[0].PID
	}
	return 0
}

// normRun spells /var/run as /run, its usual symlink.
func normRun(p string) string {
	if rest, ok := strings.CutPrefix(p, "/var/run/"); ok {
		return "/run/" + rest
	}
	return p
}

// readConmons ties conmon (podman's and CRI-O's supervisor) to its
// container; under CRI-O its logical parent is crio.
func (x *discovery) readConmons(conmons, crios []*inventory.Process) {
	for _, p := range conmons {
		a := parseConmonArgs(p.Cmdline)
		if a.ID == "" {
			continue
		}
		b := x.byID[a.ID]
		if b == nil {
			continue
		}
		b.conmon = a
		b.c.ShimPID = p.PID
		b.c.Sources = append(b.c.Sources, "conmon")
		if b.c.Bundle == "" {
			b.c.Bundle = a.Bundle
		}
		if b.c.Runtime == RuntimeCRIO && len(crios) == 1 && crios[0].PID != p.PPID {
			x.res.LogicalParents[p.PID] = crios[0].PID
		}
	}
}

// readNsagent reads nsagent's workload state, best effort: the launcher
// owns its schema, so only id, name, pid and cgroup are relied on.
func (x *discovery) readNsagent() {
	files, _ := filepath.Glob(filepath.Join(x.d.host(x.d.opts.NsagentState), "*.json"))
	for _, f := range files {
		v, err := x.d.cache.load(f, parseNsagentState)
		if err != nil || v == nil {
			continue // not ours to judge: the launcher's schema may differ
		}
		s := v.(*nsagentState)
		id := s.ID
		if id == "" {
			id = strings.TrimSuffix(filepath.Base(f), ".json")
		}
		b := x.byID[id]
		if b == nil && s.PID != 0 {
			if cid := x.containerOfPID(s.PID); cid != "" {
				b = x.byID[cid]
			}
		}
		if b == nil {
			if !x.alive(s.PID, 0) {
				continue
			}
			b = x.get(id)
			b.c.Runtime = RuntimeNsagent
			x.addCgroupOf(b, s.PID)
		}
		b.nsagent = s
		if s.PID != 0 && b.initPID == 0 {
			b.initPID = s.PID
		}
		b.c.Sources = append(b.c.Sources, "nsagent-state")
	}
}

// dockerRoot is Docker's data root: the option, dockerd's --data-root,
// or the default.
func (d *Discoverer) dockerRoot(dockerds []*inventory.Process) string {
	if d.opts.DockerRoot != "" {
		return d.opts.DockerRoot
	}
	for _, p := range dockerds {
		for i, arg := range p.Cmdline {
			if v, ok := strings.CutPrefix(arg, "--data-root="); ok {
				return v
			}
			if (arg == "--data-root" || arg == "-g") && i+1 < len(p.Cmdline) {
				return p.Cmdline[i+1]
			}
		}
	}
	return "/var/lib/docker"
}

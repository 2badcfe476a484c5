package containers

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nsagent/nsagent/inventory"
)

// Kubernetes annotations on a pod container's OCI bundle: containerd's CRI
// plugin writes the io.kubernetes.cri.* ones, CRI-O the others.
const (
	annCRIType          = "io.kubernetes.cri.container-type"
	annCRIName          = "io.kubernetes.cri.container-name"
	annCRISandboxName   = "io.kubernetes.cri.sandbox-name"
	annCRISandboxNS     = "io.kubernetes.cri.sandbox-namespace"
	annCRISandboxUID    = "io.kubernetes.cri.sandbox-uid"
	annCRISandboxID     = "io.kubernetes.cri.sandbox-id"
	annCRIImage         = "io.kubernetes.cri.image-name"
	annCRIOType         = "io.kubernetes.cri-o.ContainerType"
	annCRIOSandboxID    = "io.kubernetes.cri-o.SandboxID"
	annCRIOImage        = "io.kubernetes.cri-o.ImageName"
	annK8sContainerName = "io.kubernetes.container.name"
	annK8sPodName       = "io.kubernetes.pod.name"
	annK8sPodNS         = "io.kubernetes.pod.namespace"
	annK8sPodUID        = "io.kubernetes.pod.uid"
	annContainerManager = "io.container.manager"
)

// pageSize is what the kernel rounds a v1 memory limit down to.
const pageSize = 4096

// describe fills in one container from its processes and the runtime's
// metadata. A container with no process left is not listed.
func (x *discovery) describe(b *builder, dockerRoot string) {
	c := b.c
	if len(b.procs) == 0 {
		return
	}
	if c.Runtime == "" || c.Runtime == RuntimeUnknown {
		switch {
		case b.shim.Namespace == "moby":
			c.Runtime = RuntimeDocker
		case b.shim.Namespace != "":
			c.Runtime = RuntimeContainerd
		case b.runcRT != "":
			c.Runtime = b.runcRT
		case b.conmon.ID != "":
			c.Runtime = RuntimePodman
		case b.nsagent != nil:
			c.Runtime = RuntimeNsagent
		default:
			c.Runtime = RuntimeUnknown
		}
	}
	if c.Runtime == RuntimeRunc && strings.HasSuffix(b.conmon.Runtime, "crun") {
		c.Runtime = RuntimeCrun
	}

	var dcfg *dockerConfig
	var dhost *dockerHostConfig
	if c.Runtime == RuntimeDocker {
		dir := filepath.Join(x.d.host(dockerRoot), "containers", c.ID)
		if v, err := x.d.cache.load(filepath.Join(dir, "config.v2.json"), parseDockerConfig); err != nil {
			x.errorf("%v", err)
		} else if v != nil {
			dcfg = v.(*dockerConfig)
			c.Sources = append(c.Sources, "docker")
		}
		if v, err := x.d.cache.load(filepath.Join(dir, "hostconfig.json"), parseDockerHostConfig); err != nil {
			x.errorf("%v", err)
		} else if v != nil {
			dhost = v.(*dockerHostConfig)
		}
		if c.RuntimeNamespace == "" {
			c.RuntimeNamespace = "moby"
		}
	}

	var spec *ociSpec
	if c.Bundle != "" {
		if v, err := x.d.cache.load(filepath.Join(x.d.host(c.Bundle), "config.json"), parseOCISpec); err != nil {
			x.errorf("%v", err)
		} else if v != nil {
			spec = v.(*ociSpec)
			c.Sources = append(c.Sources, "oci-bundle")
		}
	}

	// Init: what the runtime recorded, if it is in the container; else the
	// oldest process whose parent is outside it.
	c.PID = 0
	for _, pid := range []int{b.initPID, dockerPID(dcfg)} {
		if pid != 0 && b.procs[pid] {
			c.PID = pid
			break
		}
	}
	c.Processes = make([]int, 0, len(b.procs))
	for pid := range b.procs {
		c.Processes = append(c.Processes, pid)
	}
	sort.Ints(c.Processes)
	c.ProcessCount = len(c.Processes)
	if c.PID == 0 {
		var best *inventory.Process
		for _, pid := range c.Processes {
			p := x.snap.Process(pid)
			if p == nil || b.procs[p.PPID] {
				continue
			}
			if best == nil || p.StartTicks < best.StartTicks {
				best = p
			}
		}
		if best != nil {
			c.PID = best.PID
		} else {
			c.PID = c.Processes[0]
		}
	}
	init := x.snap.Process(c.PID)

	x.name(b, dcfg, spec)

	// Limits as the kernel has them.
	if g := x.cgroup(c.Cgroup); g != nil {
		if g.Memory != nil {
			c.MemoryLimitBytes = g.Memory.LimitBytes
		}
		if g.CPU != nil {
			c.CPUQuotaMicros, c.CPUPeriodMicros = g.CPU.QuotaMicros, g.CPU.PeriodMicros
		}
		if g.Pids != nil {
			c.PidsLimit = g.Pids.Max
		}
	}
	switch {
	case dhost != nil:
		c.Requested = dhost.limits()
	case spec != nil && spec.limits() != nil:
		c.Requested = spec.limits()
	case b.runc != nil:
		c.Requested = b.runc.limits()
	}
	x.checkLimits(c)

	c.Namespaces = map[inventory.NSType]uint64{}
	c.SharedWithHost = []inventory.NSType{}
	if init != nil {
		c.Namespaces = init.NS.Map()
		for i, t := range inventory.NSTypes {
			if init.NS[i] != 0 && init.NS[i] == x.host[i] {
				c.SharedWithHost = append(c.SharedWithHost, t)
			}
		}
		sec := init.Security
		c.Security = Security{
			Seccomp: sec.Seccomp, NoNewPrivs: sec.NoNewPrivs,
			CapEff: fmt.Sprintf("%016x", sec.CapEff),
		}
		all := uint64(1)<<(x.d.lastCap+1) - 1
		c.Security.Privileged = (dhost != nil && dhost.Privileged) || (sec.CapEff&all == all && sec.Seccomp == 0)
	}

	// Roles, and exec sessions: processes in the container whose parent is
	// outside it, other than its init (the shim or runc started them).
	c.Entrants = []Entrant{}
	for _, pid := range c.Processes {
		x.res.ContainerOf[pid] = c.ID
		p := x.snap.Process(pid)
		switch {
		case pid == c.PID:
			x.res.Roles[pid] = RoleInit
		case p != nil && !b.procs[p.PPID]:
			x.res.Roles[pid] = RoleEntrant
			c.Entrants = append(c.Entrants, Entrant{PID: pid, Command: p.Command(), Via: "exec", Namespaces: sharedNS(init, p, x.host)})
		default:
			if r := x.res.Role(pid); r == RoleHost || r == RoleNsagent {
				x.res.Roles[pid] = RoleContainer
			}
		}
	}
	x.res.Containers = append(x.res.Containers, c)
}

// dockerPID is the init pid Docker recorded, 0 without its config.
func dockerPID(c *dockerConfig) int {
	if c == nil || !c.State.Running {
		return 0
	}
	return c.State.Pid
}

// name gives the container its name, image and pod from the most specific
// metadata there is.
func (x *discovery) name(b *builder, dcfg *dockerConfig, spec *ociSpec) {
	c := b.c
	var ann map[string]string
	if spec != nil {
		ann = spec.Annotations
	}
	pod := func(name, ns, uid, sandbox string) {
		if name == "" && ns == "" {
			return
		}
		if c.Pod == nil {
			c.Pod = &Pod{}
		}
		c.Pod.Name, c.Pod.Namespace = name, ns
		if uid != "" {
			c.Pod.UID = uid
		}
		c.Pod.SandboxID = sandbox
	}
	switch {
	case dcfg != nil:
		c.Name, c.Image = dcfg.Name, dcfg.Config.Image
	case ann[annCRISandboxName] != "":
		pod(ann[annCRISandboxName], ann[annCRISandboxNS], ann[annCRISandboxUID], ann[annCRISandboxID])
		c.Image = ann[annCRIImage]
		c.Name = ann[annCRIName]
		if ann[annCRIType] == "sandbox" {
			c.Kind, c.Name = "sandbox", ann[annCRISandboxName]
		}
	case ann[annK8sPodName] != "":
		pod(ann[annK8sPodName], ann[annK8sPodNS], ann[annK8sPodUID], ann[annCRIOSandboxID])
		c.Image = ann[annCRIOImage]
		c.Name = ann[annK8sContainerName]
		if ann[annCRIOType] == "sandbox" {
			c.Kind, c.Name = "sandbox", ann[annK8sPodName]
		}
		if c.Runtime == RuntimeUnknown && ann[annContainerManager] == "cri-o" {
			c.Runtime = RuntimeCRIO
		}
	case b.conmon.Name != "":
		c.Name = b.conmon.Name
	case b.nsagent != nil && b.nsagent.Name != "":
		c.Name = b.nsagent.Name
	}
	if c.Pod != nil && c.Pod.SandboxID == c.ID {
		c.Kind = "sandbox"
	}
	if c.Name == "" {
		c.Name = c.ID
	}
}

// cgroup returns the snapshot's cgroup at path, or nil.
func (x *discovery) cgroup(path string) *inventory.Cgroup {
	if x.snap.Cgroups == nil || path == "" {
		return nil
	}
	gs := x.snap.Cgroups.Groups
	i := sort.Search(len(gs), func(i int) bool { return gs[i].Path >= path })
	if i < len(gs) && gs[i].Path == path {
		return gs[i]
	}
	return nil
}

// checkLimits flags a container whose cgroup limits differ from those its
// runtime says it asked for. Memory is compared to the page, as the kernel
// rounds it down.
func (x *discovery) checkLimits(c *Container) {
	r := c.Requested
	if r == nil || x.cgroup(c.Cgroup) == nil {
		return
	}
	var diffs []string
	if !sameU64(r.MemoryBytes, c.MemoryLimitBytes, pageSize) {
		diffs = append(diffs, fmt.Sprintf("memory %s, cgroup has %s", fmtU64(r.MemoryBytes), fmtU64(c.MemoryLimitBytes)))
	}
	if !sameU64(r.Pids, c.PidsLimit, 1) {
		diffs = append(diffs, fmt.Sprintf("pids %s, cgroup has %s", fmtU64(r.Pids), fmtU64(c.PidsLimit)))
	}
	if (r.CPUQuotaMicros == nil) != (c.CPUQuotaMicros == nil) ||
		(r.CPUQuotaMicros != nil && (*r.CPUQuotaMicros != *c.CPUQuotaMicros || (r.CPUPeriodMicros != 0 && r.CPUPeriodMicros != c.CPUPeriodMicros))) {
		diffs = append(diffs, fmt.Sprintf("cpu quota %s, cgroup has %s", fmtI64(r.CPUQuotaMicros), fmtI64(c.CPUQuotaMicros)))
	}
	if len(diffs) > 0 {
		x.res.Findings = append(x.res.Findings, Finding{
			Kind: "limit-mismatch", ContainerID: c.ID, PID: c.PID,
			Message: fmt.Sprintf("%s %s asked for %s", c.Runtime, c.Name, strings.Join(diffs, "; ")),
		})
	}
}

// sameU64 compares optional limits, equal if both unlimited or within tol.
func sameU64(a, b *uint64, tol uint64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	d := *a - *b
	if *b > *a {
		d = *b - *a
	}
	return d < tol
}

func fmtU64(v *uint64) string {
	if v == nil {
		return "unlimited"
	}
	return fmt.Sprint(*v)
}

func fmtI64(v *int64) string {
	if v == nil {
		return "unlimited"
	}
	return fmt.Sprint(*v)
}

// sharedNS lists the namespaces p shares with the container's init that
// the init does not share with the host.
func sharedNS(init, p *inventory.Process, host inventory.NSSet) []inventory.NSType {
	out := []inventory.NSType{}
	if init == nil || p == nil {
		return out
	}
	for i, t := range inventory.NSTypes {
		if init.NS[i] != 0 && init.NS[i] != host[i] && p.NS[i] == init.NS[i] {
			out = append(out, t)
		}
	}
	return out
}

// findEntrants finds processes outside every container that share one of
// a container's own namespaces: nsenter sessions (and anything else that
// setns()ed in). Runtime processes (runc joining to exec) are left out.
func (x *discovery) findEntrants() {
	owners := map[inventory.NSKey][]*Container{}
	for _, c := range x.res.Containers {
		init := x.snap.Process(c.PID)
		if init == nil {
			continue
		}
		for i, ino := range init.NS {
			if ino != 0 && ino != x.host[i] {
				k := inventory.NSKey{Type: inventory.NSTypes[i], Inode: ino}
				owners[k] = append(owners[k], c)
			}
		}
	}
	if len(owners) == 0 {
		return
	}
	for _, p := range x.snap.Processes {
		if _, in := x.res.ContainerOf[p.PID]; in || x.res.Roles[p.PID] == RoleOCIRuntime {
			continue
		}
		// The container it entered is the one it shares most namespaces
		// with (a pod's containers all share the sandbox's net, ipc, uts).
		var c *Container
		var shared []inventory.NSType
		for i, ino := range p.NS {
			if ino == 0 || ino == x.host[i] {
				continue
			}
			for _, o := range owners[inventory.NSKey{Type: inventory.NSTypes[i], Inode: ino}] {
				s := sharedNS(x.snap.Process(o.PID), p, x.host)
				if c == nil || len(s) > len(shared) || (len(s) == len(shared) && o.ID < c.ID) {
					c, shared = o, s
				}
			}
		}
		if c == nil {
			continue
		}
		c.Entrants = append(c.Entrants, Entrant{PID: p.PID, Command: p.Command(), Via: "nsenter", Namespaces: shared})
		x.res.Roles[p.PID] = RoleEntrant
		x.res.ContainerOf[p.PID] = c.ID
	}
}

// findOrphanShims flags shims and conmons with no live child: their
// container is gone but they stayed.
func (x *discovery) findOrphanShims(shims []*inventory.Process) {
	for _, s := range shims {
		if len(x.children[s.PID]) > 0 {
			continue
		}
		a := parseShimArgs(s.Cmdline)
		x.res.Findings = append(x.res.Findings, Finding{
			Kind: "orphan-shim", PID: s.PID, ContainerID: a.ID,
			Message: fmt.Sprintf("shim %d (namespace %s, id %s) has no container process left", s.PID, a.Namespace, a.ID),
		})
	}
}

// findIdleNamespaces flags namespaces that no process is in, kept alive
// only by a bind mount or an open descriptor.
func (x *discovery) findIdleNamespaces() {
	for _, n := range x.snap.Namespaces {
		if len(n.PIDs) > 0 {
			continue
		}
		var by []string
		for _, m := range n.Mounts {
			by = append(by, "mount "+m)
		}
		for _, f := range n.FDs {
			by = append(by, fmt.Sprintf("fd %d of pid %d", f.FD, f.PID))
		}
		if len(by) == 0 {
			by = []string{"nothing visible"}
		}
		x.res.Findings = append(x.res.Findings, Finding{
			Kind:    "namespace-without-process",
			Message: fmt.Sprintf("%s namespace %d has no process; held by %s", n.Type, n.Inode, strings.Join(by, ", ")),
		})
	}
}

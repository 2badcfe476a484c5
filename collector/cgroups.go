package collector

import (
	"fmt"
	"path"
	"strings"

	"github.com/nsagent/nsagent/agent"
	"github.com/nsagent/nsagent/inventory"
)

func init() {
	register("cgroups", true, "limits and usage of the cgroups that carry a container or workload, or lie within --collector.cgroups.depth", newCgroups)
}

// cgroups reports a set of cgroups in which none is an ancestor of
// another: cgroup usage is hierarchical (a parent's memory includes its
// children's), so summing over any set with a parent and its child would
// count twice. The set is the cgroups of containers and workloads, plus
// those within the depth limit that contain none of them.
type cgroups struct {
	depth int
	res   resourceDescs
}

var (
	cgModeDesc   = desc("cgroup", "mode", "The host's cgroup layout: legacy (v1), hybrid or unified (v2).", "mode")
	cgCountDesc  = desc("", "cgroups", "Cgroups in the tree (each path once, whatever the number of v1 hierarchies).")
	cgProcsDesc  = desc("cgroup", "processes", "Processes directly in the reported cgroup and its unreported descendants.", "cgroup")
	cgReasonDesc = desc("cgroup", "info", "Why the cgroup is reported: container (a container's or workload's) or depth.", "cgroup", "reason")
)

func newCgroups(cfg Config) collector {
	return &cgroups{depth: cfg.CgroupDepth, res: newResourceDescs("cgroup", "cgroup", "cgroup")}
}

func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

func (c *cgroups) update(s *agent.Scan, e *emitter) error {
	cg := s.Snapshot.Cgroups
	if cg == nil {
		return fmt.Errorf("cgroups: %w: the scan read no cgroup tree", ErrNoData)
	}
	e.gauge(cgModeDesc, 1, string(cg.Mode))
	e.gauge(cgCountDesc, float64(len(cg.Groups)))

	reason := map[string]string{}
	if s.Containers != nil {
		for _, ct := range s.Containers.Containers {
			if ct.Cgroup != "" && ct.Cgroup != "/" {
				reason[ct.Cgroup] = "container"
			}
		}
	}
	// An ancestor of a container's cgroup is not reported: the container
	// is, and the ancestor's figures would include it.
	covered := map[string]bool{}
	for p := range reason {
		for q := path.Dir(p); q != "/" && q != "."; q = path.Dir(q) {
			covered[q] = true
		}
	}
	for _, g := range cg.Groups {
		d := depth(g.Path)
		if d >= 1 && d <= c.depth && reason[g.Path] == "" && !covered[g.Path] {
			// Within the depth, report the deepest level only, for the
			// same reason.
			if d == c.depth || !hasChildWithin(cg.Groups, g.Path) {
				reason[g.Path] = "depth"
			}
		}
	}
	// A reported cgroup below another reported one (a container nested in
	// a container's cgroup) leaves the outer one out.
	for p := range reason {
		for q := path.Dir(p); q != "/" && q != "."; q = path.Dir(q) {
			if _, ok := reason[q]; ok {
				delete(reason, q)
			}
		}
	}
	// Processes of unreported cgroups are counted in their nearest
	// reported ancestor, so the process counts add up too.
	procs := map[string]int{}
	for _, g := range cg.Groups {
		for q := g.Path; q != "/" && q != "."; q = path.Dir(q) {
			if _, ok := reason[q]; ok {
				procs[q] += g.Procs
				break
			}
		}
	}
	for _, g := range cg.Groups { // sorted by path: stable output
		r, ok := reason[g.Path]
		if !ok {
			continue
		}
		e.gauge(cgReasonDesc, 1, g.Path, r)
		e.gauge(cgProcsDesc, float64(procs[g.Path]), g.Path)
		c.res.emit(e, g, g.Path)
	}
	return nil
}

// hasChildWithin reports whether any cgroup lies below p.
func hasChildWithin(groups []*inventory.Cgroup, p string) bool {
	prefix := p + "/"
	for _, g := range groups {
		if strings.HasPrefix(g.Path, prefix) {
			return true
		}
	}
	return false
}

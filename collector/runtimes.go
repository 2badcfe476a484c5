package collector

import (
	"fmt"

	"github.com/nsagent/nsagent/agent"
	ctr "github.com/nsagent/nsagent/inventory/containers"
)

func init() {
	register("runtimes", true, "container runtime components (dockerd, containerd, shims, ...) up and their processes; containers per runtime; findings", newRuntimes)
}

type runtimes struct{}

var (
	rtUpDesc       = desc("runtime", "up", "Whether a process of the runtime component runs.", "component")
	rtProcsDesc    = desc("runtime", "processes", "Processes of the runtime component.", "component")
	rtCtDesc       = desc("", "containers", "Running containers by runtime.", "runtime")
	rtFindingsDesc = desc("runtime", "findings", "Things that look wrong, by kind (orphan-shim, namespace-without-process, limit-mismatch, stale-runtime-state).", "kind")
)

// components are the runtime roles reported, whether running or not, so a
// daemon that stops shows as 0 rather than as a missing series.
var components = []ctr.Role{ctr.RoleDockerd, ctr.RoleContainerd, ctr.RoleShim, ctr.RoleOCIRuntime,
	ctr.RoleConmon, ctr.RolePodman, ctr.RoleCRIO, ctr.RoleKubelet, ctr.RoleNsagent}

var runtimeNames = []ctr.Runtime{ctr.RuntimeDocker, ctr.RuntimeContainerd, ctr.RuntimeCRIO, ctr.RuntimePodman,
	ctr.RuntimeRunc, ctr.RuntimeCrun, ctr.RuntimeNsagent, ctr.RuntimeUnknown}

var findingKinds = []string{"orphan-shim", "namespace-without-process", "limit-mismatch", "stale-runtime-state"}

func newRuntimes(Config) collector { return runtimes{} }

func (runtimes) update(s *agent.Scan, e *emitter) error {
	r := s.Containers
	if r == nil {
		return fmt.Errorf("discover containers: %w", s.ContainersErr)
	}
	count := map[ctr.Role]int{}
	for _, role := range r.Roles {
		count[role]++
	}
	for _, c := range components {
		e.gauge(rtUpDesc, boolValue(count[c] > 0), string(c))
	}
	for _, c := range components {
		e.gauge(rtProcsDesc, float64(count[c]), string(c))
	}
	byRuntime := map[ctr.Runtime]int{}
	for _, c := range r.Containers {
		byRuntime[c.Runtime]++
	}
	for _, rt := range runtimeNames {
		e.gauge(rtCtDesc, float64(byRuntime[rt]), string(rt))
	}
	kinds := map[string]int{}
	for _, f := range r.Findings {
		kinds[f.Kind]++
	}
	for _, k := range findingKinds {
		e.gauge(rtFindingsDesc, float64(kinds[k]), k)
		delete(kinds, k)
	}
	for k, n := range sortedCounts(kinds) {
		e.gauge(rtFindingsDesc, float64(n), k)
	}
	return nil
}

package collector

import (
	"fmt"

	"github.com/nsagent/nsagent/agent"
)

func init() {
	register("containers", true, "per container: identity, limits and usage of its cgroup, processes, start time, confinement", newContainers)
}

type containers struct {
	res resourceDescs
}

var (
	ctInfoDesc       = desc("container", "info", "One series per running container: its runtime's id and name, the runtime, and the image.", "id", "name", "runtime", "image")
	ctProcsDesc      = desc("container", "processes", "Processes in the container's cgroup.", "id")
	ctStartDesc      = desc("container", "start_time_seconds", "Start time of the container's init process, seconds since the epoch.", "id")
	ctSeccompDesc    = desc("container", "seccomp_mode", "Seccomp mode of the container's init: 0 disabled, 1 strict, 2 filter.", "id")
	ctNNPDesc        = desc("container", "no_new_privs", "Whether the container's init has no_new_privs set.", "id")
	ctPrivilegedDesc = desc("container", "privileged", "Whether the container is privileged (the runtime says so, or its init holds every capability with no seccomp filter).", "id")
	ctSharedDesc     = desc("container", "host_namespaces", "Namespace types the container shares with the host (did not unshare).", "id")
)

func newContainers(Config) collector {
	return &containers{res: newResourceDescs("container", "container's cgroup", "id")}
}

func (c *containers) update(s *agent.Scan, e *emitter) error {
	if s.Containers == nil {
		return fmt.Errorf("discover containers: %w", s.ContainersErr)
	}
	groups := cgroupIndex(s.Snapshot.Cgroups)
	for _, ct := range s.Containers.Containers {
		e.gauge(ctInfoDesc, 1, ct.ID, ct.Name, string(ct.Runtime), ct.Image)
	}
	for _, ct := range s.Containers.Containers {
		e.gauge(ctProcsDesc, float64(ct.ProcessCount), ct.ID)
		if p := s.Snapshot.Process(ct.PID); p != nil && !p.Started.IsZero() {
			e.gauge(ctStartDesc, float64(p.Started.Unix()), ct.ID)
		}
		e.gauge(ctSeccompDesc, float64(ct.Security.Seccomp), ct.ID)
		e.gauge(ctNNPDesc, boolValue(ct.Security.NoNewPrivs), ct.ID)
		e.gauge(ctPrivilegedDesc, boolValue(ct.Security.Privileged), ct.ID)
		e.gauge(ctSharedDesc, float64(len(ct.SharedWithHost)), ct.ID)
		if g := groups[ct.Cgroup]; g != nil {
			c.res.emit(e, g, ct.ID)
		} else if ct.MemoryLimitBytes != nil {
			// No cgroup tree in the scan: the limit discovery read.
			e.gauge(c.res.memLimit, float64(*ct.MemoryLimitBytes), ct.ID)
		}
	}
	return nil
}

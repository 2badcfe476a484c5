package collector

import (
	"github.com/nsagent/nsagent/inventory"
	"github.com/prometheus/client_golang/prometheus"
)

// resourceDescs are the limit and usage series of a cgroup, shared by the
// cgroups collector (labelled by cgroup) and the containers collector
// (labelled by container id).
type resourceDescs struct {
	memUsage, memLimit, memWorkingSet, memOOM       *prometheus.Desc
	cpuUsage, cpuPeriods, cpuThrottled, cpuThrotSec *prometheus.Desc
	cpuQuota, pidsCurrent, pidsMax                  *prometheus.Desc
	psiWaiting, psiStalled                          *prometheus.Desc
}

func newResourceDescs(subsystem, what string, label string) resourceDescs {
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return desc(subsystem, name, help+" of the "+what+".", append([]string{label}, extra...)...)
	}
	return resourceDescs{
		memUsage:      d("memory_usage_bytes", "Memory charged to the cgroup (v1 memory.usage_in_bytes, v2 memory.current)"),
		memLimit:      d("memory_limit_bytes", "Memory limit (absent when unlimited)"),
		memWorkingSet: d("memory_working_set_bytes", "Memory usage less inactive file pages, as cAdvisor and the kubelet count it"),
		memOOM:        d("memory_oom_kills_total", "Processes killed by the OOM killer in the cgroup (memory.oom_control or memory.events oom_kill)"),
		cpuUsage:      d("cpu_usage_seconds_total", "CPU time consumed"),
		cpuPeriods:    d("cpu_periods_total", "CFS enforcement periods elapsed"),
		cpuThrottled:  d("cpu_throttled_periods_total", "CFS periods in which the cgroup was throttled"),
		cpuThrotSec:   d("cpu_throttled_seconds_total", "Time the cgroup was throttled"),
		cpuQuota:      d("cpu_quota_cores", "CPU bandwidth limit in cores, quota/period (absent when unlimited)"),
		pidsCurrent:   d("pids", "Tasks counted by the pids controller"),
		pidsMax:       d("pids_max", "Tasks limit of the pids controller (absent when unlimited)"),
		psiWaiting:    d("pressure_waiting_seconds_total", "Time some tasks were stalled on the resource (PSI some total)", "resource"),
		psiStalled:    d("pressure_stalled_seconds_total", "Time all tasks were stalled on the resource (PSI full total)", "resource"),
	}
}

// emit sends g's series labelled id.
func (d *resourceDescs) emit(e *emitter, g *inventory.Cgroup, id string) {
	if m := g.Memory; m != nil {
		e.gauge(d.memUsage, float64(m.UsageBytes), id)
		if m.LimitBytes != nil {
			e.gauge(d.memLimit, float64(*m.LimitBytes), id)
		}
		e.gauge(d.memWorkingSet, float64(m.WorkingSetBytes), id)
		e.counter(d.memOOM, float64(m.OOMKills), id)
	}
	if c := g.CPU; c != nil {
		e.counter(d.cpuUsage, float64(c.UsageNanos)/1e9, id)
		e.counter(d.cpuPeriods, float64(c.NrPeriods), id)
		e.counter(d.cpuThrottled, float64(c.NrThrottled), id)
		e.counter(d.cpuThrotSec, float64(c.ThrottledNanos)/1e9, id)
		if c.QuotaMicros != nil && c.PeriodMicros > 0 {
			e.gauge(d.cpuQuota, float64(*c.QuotaMicros)/float64(c.PeriodMicros), id)
		}
	}
	if p := g.Pids; p != nil {
		e.gauge(d.pidsCurrent, float64(p.Current), id)
		if p.Max != nil {
			e.gauge(d.pidsMax, float64(*p.Max), id)
		}
	}
	for res, p := range sortedCounts(g.PSI) {
		e.counter(d.psiWaiting, float64(p.SomeTotalMicros)/1e6, id, res)
		if res != "cpu" || p.FullTotalMicros > 0 {
			e.counter(d.psiStalled, float64(p.FullTotalMicros)/1e6, id, res)
		}
	}
}

// cgroupIndex finds cgroups by path.
func cgroupIndex(cg *inventory.Cgroups) map[string]*inventory.Cgroup {
	if cg == nil {
		return nil
	}
	m := make(map[string]*inventory.Cgroup, len(cg.Groups))
	for _, g := range cg.Groups {
		m[g.Path] = g
	}
	return m
}

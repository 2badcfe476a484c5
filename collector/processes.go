package collector

import (
	"github.com/nsagent/nsagent/agent"
	"github.com/nsagent/nsagent/inventory"
)

func init() {
	register("processes", true, "process aggregates: by state, outside the host's namespaces, by confinement (no per-process series)", newProcesses)
}

type processes struct{}

var (
	procStateDesc   = desc("", "processes", "Processes by state (R, S, D, Z, T, I, ...), kernel threads included.", "state")
	procKernelDesc  = desc("", "kernel_threads", "Kernel threads.")
	procThreadsDesc = desc("", "threads", "Threads of all processes.")
	procOutsideDesc = desc("", "processes_outside_host_namespace", "Processes whose namespace of this type differs from the host's (PID 1's, or the lowest readable pid's).", "type")
	procSeccompDesc = desc("", "processes_seccomp", "Processes by seccomp mode (disabled, strict, filter).", "mode")
	procNNPDesc     = desc("", "processes_no_new_privs", "Processes with the no_new_privs bit set.")
)

func newProcesses(Config) collector { return processes{} }

var seccompModes = [...]string{"disabled", "strict", "filter"}

func (processes) update(s *agent.Scan, e *emitter) error {
	states := map[string]int{}
	var kernel, threads, nnp int
	var seccomp [3]int
	var outside [len(inventory.NSTypes)]int
	host := s.Snapshot.HostNS()
	for _, p := range s.Snapshot.Processes {
		states[p.State]++
		threads += p.Threads
		if p.Kernel {
			kernel++
			continue
		}
		if m := p.Security.Seccomp; m >= 0 && m < len(seccomp) {
			seccomp[m]++
		}
		if p.Security.NoNewPrivs {
			nnp++
		}
		for i, ino := range p.NS {
			if ino != 0 && host[i] != 0 && ino != host[i] {
				outside[i]++
			}
		}
	}
	// A fixed set of states keeps the series stable when none is in one.
	for _, st := range []string{"R", "S", "D", "Z", "T", "t", "I", "X"} {
		e.gauge(procStateDesc, float64(states[st]), st)
		delete(states, st)
	}
	for st, n := range sortedCounts(states) {
		e.gauge(procStateDesc, float64(n), st)
	}
	e.gauge(procKernelDesc, float64(kernel))
	e.gauge(procThreadsDesc, float64(threads))
	for i, t := range inventory.NSTypes {
		e.gauge(procOutsideDesc, float64(outside[i]), string(t))
	}
	for i, m := range seccompModes {
		e.gauge(procSeccompDesc, float64(seccomp[i]), m)
	}
	e.gauge(procNNPDesc, float64(nnp))
	return nil
}

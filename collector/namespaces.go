package collector

import (
	"strconv"
	"strings"

	"github.com/nsagent/nsagent/agent"
	"github.com/nsagent/nsagent/inventory"
)

func init() {
	register("namespaces", true, "namespaces by type, one info series per namespace, and those no process is in", newNamespaces)
}

type namespaces struct{}

var (
	nsCountDesc = desc("", "namespaces", "Namespaces alive, by type (held by a process, an nsfs mount or an open descriptor).", "type")
	nsIdleDesc  = desc("", "namespaces_without_processes", "Namespaces alive with no process in them, kept only by an nsfs mount or an open descriptor (leaked network namespaces show here).", "type")
	nsInfoDesc  = desc("namespace", "info", "One series per namespace: its owning user namespace and parent (inode, empty if unknown) and what holds it (process, mount, fd; comma-separated).", "type", "inode", "owner", "parent", "held_by")
	nsProcsDesc = desc("namespace", "processes", "Processes in the namespace.", "type", "inode")
)

func newNamespaces(Config) collector { return namespaces{} }

func (namespaces) update(s *agent.Scan, e *emitter) error {
	var count, idle [len(inventory.NSTypes)]int
	for _, n := range s.Snapshot.Namespaces {
		i := n.Type.Index()
		count[i]++
		if len(n.PIDs) == 0 {
			idle[i]++
		}
	}
	for i, t := range inventory.NSTypes {
		e.gauge(nsCountDesc, float64(count[i]), string(t))
	}
	for i, t := range inventory.NSTypes {
		e.gauge(nsIdleDesc, float64(idle[i]), string(t))
	}
	for _, n := range s.Snapshot.Namespaces {
		holders := n.HeldBy()
		h := make([]string, len(holders))
		for i, x := range holders {
			h[i] = string(x)
		}
		ino := strconv.FormatUint(n.Inode, 10)
		e.gauge(nsInfoDesc, 1, string(n.Type), ino, optInode(n.Owner), optInode(n.Parent), strings.Join(h, ","))
		e.gauge(nsProcsDesc, float64(len(n.PIDs)), string(n.Type), ino)
	}
	return nil
}

func optInode(v uint64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatUint(v, 10)
}

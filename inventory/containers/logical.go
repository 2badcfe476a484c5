package containers

import "github.com/nsagent/nsagent/inventory"

// LogicalTree returns the process tree by logical parent: a shim under the
// containerd that started it, conmon under crio, everything else under its
// real parent. The nodes' Process values are copies whose PPID is still
// the real parent, so both can be shown.
func LogicalTree(snap *inventory.Snapshot, res *Result) []*inventory.TreeNode {
	copies := make([]*inventory.Process, len(snap.Processes))
	real := make(map[*inventory.Process]int, len(res.LogicalParents))
	for i, p := range snap.Processes {
		cp := *p
		if lp, ok := res.LogicalParents[p.PID]; ok && lp != 0 {
			real[&cp] = cp.PPID
			cp.PPID = lp
		}
		copies[i] = &cp
	}
	roots := (&inventory.Snapshot{Processes: copies}).Tree()
	for p, ppid := range real {
		p.PPID = ppid
	}
	return roots
}

package inventory

import "sort"

// TreeNode is a process in the process tree, with the namespaces it enters
// that its parent is not in (the boundaries) and its cgroup.
type TreeNode struct {
	*Process
	// Namespaces are all the process's namespaces, type → inode.
	Namespaces map[NSType]uint64 `json:"namespaces"`
	// NewNamespaces are the namespaces that differ from the parent's (for
	// a root of the tree: from the host's, those of the init process).
	NewNamespaces map[NSType]uint64 `json:"new_namespaces,omitempty"`
	// Cgroup is the process's cgroup path (memory hierarchy on v1, the
	// unified one on v2).
	Cgroup   string      `json:"cgroup"`
	Children []*TreeNode `json:"children,omitempty"`
}

// HostNS returns the namespaces of the host: those of PID 1 when it can be
// read, else of the lowest pid whose namespaces can (kthreadd, when PID 1 is
// a supervisor that hides its own).
func (s *Snapshot) HostNS() NSSet {
	for _, p := range s.Processes {
		if p.NS != (NSSet{}) {
			return p.NS
		}
	}
	return NSSet{}
}

// Tree returns the process tree by real parent, like `ps fxa`: roots are
// the processes whose parent is not in the snapshot, children sorted by
// pid.
func (s *Snapshot) Tree() []*TreeNode {
	host := s.HostNS()
	nodes := make(map[int]*TreeNode, len(s.Processes))
	for _, p := range s.Processes {
		nodes[p.PID] = &TreeNode{Process: p, Namespaces: p.NS.Map(), Cgroup: p.CgroupPath("memory")}
	}
	var roots []*TreeNode
	for _, p := range s.Processes { // sorted by pid, so children come out sorted
		n := nodes[p.PID]
		parent := nodes[p.PPID]
		if parent == nil || p.PPID == p.PID {
			roots = append(roots, n)
			n.NewNamespaces = boundary(host, p.NS)
			continue
		}
		parent.Children = append(parent.Children, n)
		base := parent.NS
		if base == (NSSet{}) {
			base = host
		}
		n.NewNamespaces = boundary(base, p.NS)
	}
	sort.Slice(roots, func(i, j int) bool { return roots[i].PID < roots[j].PID })
	return roots
}

// boundary returns the namespaces of ns that differ from base, leaving out
// the ones either side could not read.
func boundary(base, ns NSSet) map[NSType]uint64 {
	var m map[NSType]uint64
	for i := range ns {
		if ns[i] == 0 || base[i] == 0 || ns[i] == base[i] {
			continue
		}
		if m == nil {
			m = make(map[NSType]uint64)
		}
		m[NSTypes[i]] = ns[i]
	}
	return m
}

// Package lsns renders an inventory.Snapshot the way util-linux lsns(8)
// does: the same columns and names, the same JSON schema, the same tree
// relations (process, parent, owner). It adds what lsns 2.38 misses:
// namespaces held only by an nsfs mount or an open file descriptor, shown
// with NPROCS 0, and a HOLDERS column.
//
// The CLI and the web API both use it, so `nsagent lsns -J` and
// /api/v1/namespaces give the same document.
package lsns

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nsagent/nsagent/inventory"
)

// Column is an output column.
type Column struct {
	Name  string
	Help  string
	Right bool // right-aligned (numbers)
	value func(r *Row) any
}

// Columns lists every column, in lsns's order, then nsagent's additions.
var Columns = []Column{
	{"NS", "namespace identifier (inode number)", true, func(r *Row) any { return r.NS.Inode }},
	{"TYPE", "kind of namespace", false, func(r *Row) any { return string(r.NS.Type) }},
	{"PATH", "path to the namespace", false, func(r *Row) any { return r.path() }},
	{"NPROCS", "number of processes in the namespace", true, func(r *Row) any { return r.NS.NProcs() }},
	{"PID", "lowest PID in the namespace", true, func(r *Row) any { return optInt(r.NS.LowestPID(), r.Proc != nil) }},
	{"PPID", "PPID of the PID", true, func(r *Row) any { return procInt(r, func(p *inventory.Process) int { return p.PPID }) }},
	{"COMMAND", "command line of the PID", false, func(r *Row) any { return r.command() }},
	{"UID", "UID of the PID", true, func(r *Row) any { return procInt(r, func(p *inventory.Process) int { return p.UID }) }},
	{"USER", "username of the PID", false, func(r *Row) any { return procStr(r, func(p *inventory.Process) string { return p.User }) }},
	{"NETNSID", "namespace ID as used by network subsystem", true, netnsid},
	{"NSFS", "nsfs mountpoint (usually used network subsystem)", false, nsfs},
	{"PNS", "parent namespace identifier (inode number)", true, func(r *Row) any { return r.NS.Parent }},
	{"ONS", "owner namespace identifier (inode number)", true, func(r *Row) any { return r.NS.Owner }},
	{"HOLDERS", "what keeps the namespace alive: process, mount, fd (nsagent)", false, holders},
	{"IFACES", "a net namespace's interfaces and addresses (nsagent)", false, ifaces},
}

// DefaultColumns are lsns's defaults; net namespaces add NETNSID and NSFS.
var (
	DefaultColumns    = []string{"NS", "TYPE", "NPROCS", "PID", "USER", "COMMAND"}
	DefaultNetColumns = []string{"NS", "TYPE", "NPROCS", "PID", "USER", "NETNSID", "NSFS", "COMMAND"}
)

// ColumnByName returns the column named name (case-insensitive).
func ColumnByName(name string) (Column, bool) {
	for _, c := range Columns {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Column{}, false
}

// ParseColumns parses an -o list. A leading "+" appends to defaults, as in
// util-linux. Unknown names are an error naming the column.
func ParseColumns(list string, defaults []string) ([]Column, error) {
	names := defaults
	if list != "" {
		if strings.HasPrefix(list, "+") {
			names = append(append([]string(nil), defaults...), strings.Split(list[1:], ",")...)
		} else {
			names = strings.Split(list, ",")
		}
	}
	cols := make([]Column, 0, len(names))
	for _, n := range names {
		c, ok := ColumnByName(strings.TrimSpace(n))
		if !ok {
			return nil, fmt.Errorf("unknown column: %s", n)
		}
		cols = append(cols, c)
	}
	return cols, nil
}

// Tree is how rows nest.
type Tree string

// The tree relations of lsns -T.
const (
	TreeNone    Tree = "" // flat list (lsns -l)
	TreeProcess Tree = "process"
	TreeParent  Tree = "parent"
	TreeOwner   Tree = "owner"
)

// ParseTree parses a -T value.
func ParseTree(s string) (Tree, error) {
	switch t := Tree(s); t {
	case TreeProcess, TreeParent, TreeOwner:
		return t, nil
	}
	return TreeNone, fmt.Errorf("unknown tree relation %q (want parent, owner or process)", s)
}

// Filter selects namespaces.
type Filter struct {
	Type inventory.NSType // "" for all
	PID  int              // 0 for all; else only the namespaces of PID
}

// Row is one namespace line, with its nested rows.
type Row struct {
	NS       *inventory.Namespace
	Proc     *inventory.Process // the lowest-pid process, nil if none
	Children []*Row
	procfs   string
	cmd      string // Proc's command line, joined once per process by Build
}

// command is the COMMAND cell: Proc's command line, or nil.
func (r *Row) command() any {
	if r.Proc == nil {
		return nil
	}
	if r.cmd == "" {
		return r.Proc.Command()
	}
	return r.cmd
}

func (r *Row) path() any {
	if r.Proc == nil {
		if len(r.NS.Mounts) > 0 {
			return r.NS.Mounts[0]
		}
		return nil
	}
	return r.procfs + "/" + strconv.Itoa(r.Proc.PID) + "/ns/" + string(r.NS.Type)
}

func optInt(v int, ok bool) any {
	if !ok {
		return nil
	}
	return v
}

func procInt(r *Row, f func(*inventory.Process) int) any {
	if r.Proc == nil {
		return nil
	}
	return f(r.Proc)
}

func procStr(r *Row, f func(*inventory.Process) string) any {
	if r.Proc == nil {
		return nil
	}
	return f(r.Proc)
}

func netnsid(r *Row) any {
	if r.NS.Type != inventory.NSNet {
		return nil
	}
	if r.NS.NetNSID == nil {
		return "unassigned"
	}
	return *r.NS.NetNSID
}

func nsfs(r *Row) any {
	if len(r.NS.Mounts) == 0 {
		return nil
	}
	return strings.Join(r.NS.Mounts, "\n")
}

// ifaces renders a net namespace's interfaces as "eth0=10.88.0.2/16 lo".
func ifaces(r *Row) any {
	if r.NS.Type != inventory.NSNet {
		return nil
	}
	parts := make([]string, 0, len(r.NS.Interfaces))
	for _, i := range r.NS.Interfaces {
		p := i.Name
		if len(i.Addrs) > 0 {
			p += "=" + strings.Join(i.Addrs, ",")
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func holders(r *Row) any {
	h := r.NS.HeldBy()
	s := make([]string, len(h))
	for i, v := range h {
		s[i] = string(v)
	}
	return strings.Join(s, ",")
}

// Build selects the namespaces of snap that f allows and nests them by
// tree. procfs is the root PATH values are shown under.
func Build(snap *inventory.Snapshot, f Filter, tree Tree, procfs string) ([]*Row, error) {
	if procfs == "" {
		procfs = "/proc"
	}
	var want map[inventory.NSKey]bool
	if f.PID != 0 {
		p := snap.Process(f.PID)
		if p == nil {
			return nil, fmt.Errorf("process %d not found", f.PID)
		}
		want = make(map[inventory.NSKey]bool)
		for i, ino := range p.NS {
			want[inventory.NSKey{Type: inventory.NSTypes[i], Inode: ino}] = true
		}
	}
	var rows []*Row
	// A process shows several namespaces (a container's init, six): its
	// command line is joined once, not once a row.
	cmds := make(map[*inventory.Process]string)
	for _, n := range snap.Namespaces {
		if f.Type != "" && n.Type != f.Type {
			continue
		}
		if want != nil && !want[inventory.NSKey{Type: n.Type, Inode: n.Inode}] {
			continue
		}
		r := &Row{NS: n, procfs: procfs}
		if pid := n.LowestPID(); pid != 0 {
			r.Proc = snap.Process(pid)
		}
		if r.Proc != nil {
			c, ok := cmds[r.Proc]
			if !ok {
				c = r.Proc.Command()
				cmds[r.Proc] = c
			}
			r.cmd = c
		}
		rows = append(rows, r)
	}
	switch tree {
	case TreeProcess:
		return nestByProcess(rows), nil
	case TreeParent:
		return nestByInode(rows, func(n *inventory.Namespace) uint64 { return n.Parent }), nil
	case TreeOwner:
		return nestByInode(rows, func(n *inventory.Namespace) uint64 { return n.Owner }), nil
	}
	return rows, nil
}

// nestByProcess nests each row under the last row, earlier in the list,
// whose process is its process's parent — lsns's own rule, kept so the
// tree matches lsns line for line.
func nestByProcess(rows []*Row) []*Row {
	last := make(map[int]*Row)
	var top []*Row
	for _, r := range rows {
		if r.Proc == nil {
			top = append(top, r)
			continue
		}
		if parent := last[r.Proc.PPID]; parent != nil {
			parent.Children = append(parent.Children, r)
		} else {
			top = append(top, r)
		}
		last[r.Proc.PID] = r
	}
	return top
}

// nestByInode nests each row under the listed user (owner) or parent
// namespace; rows whose relative is not listed stay at the top.
func nestByInode(rows []*Row, rel func(*inventory.Namespace) uint64) []*Row {
	byIno := make(map[uint64]*Row)
	for _, r := range rows {
		if r.NS.Type == inventory.NSUser || r.NS.Type == inventory.NSPID {
			// parent and owner point at user or pid namespaces; pid
			// inodes and user inodes never collide (one inode space).
			byIno[r.NS.Inode] = r
		}
	}
	var top []*Row
	for _, r := range rows {
		if p := byIno[rel(r.NS)]; p != nil && p != r && !(p.NS.Type == inventory.NSPID && r.NS.Type != inventory.NSPID) {
			p.Children = append(p.Children, r)
		} else {
			top = append(top, r)
		}
	}
	// lsns lists a relation tree with the roots first, so user namespaces
	// (every namespace's owner) lead.
	sort.SliceStable(top, func(i, j int) bool {
		return top[i].NS.Type == inventory.NSUser && top[j].NS.Type != inventory.NSUser
	})
	return top
}

// Flatten returns rows and their descendants in display order.
func Flatten(rows []*Row) []*Row {
	var out []*Row
	var walk func([]*Row)
	walk = func(rs []*Row) {
		for _, r := range rs {
			out = append(out, r)
			walk(r.Children)
		}
	}
	walk(rows)
	return out
}

//go:build !launchonly

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nsagent/nsagent/inventory"
	"github.com/nsagent/nsagent/inventory/containers"
)

func init() {
	register(&command{name: "tree", summary: "show the process tree like ps fxa, with namespace boundaries and cgroups", run: runTree})
}

func runTree(args []string) error {
	oneShotGC()
	fs := newFlagSet("tree", "[flags]")
	output := fs.StringP("output", "o", "table", "output format: table or json")
	logical := fs.Bool("logical", false, "nest processes under their logical parent (a shim under its containerd) instead of their real one")
	paths := pathFlags(fs)
	copts := containerFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := outputFormat(*output, "table", "json"); err != nil {
		return err
	}
	snap, res, err := scanContainers(*paths, copts, inventory.FieldTree|inventory.FieldDetails|inventory.FieldSecurity|inventory.FieldCgroupRefs)
	if err != nil {
		return err
	}
	roots := snap.Tree()
	if *logical {
		roots = containers.LogicalTree(snap, res)
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	if *output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"processes": roots, "roles": res.Roles, "container_of": res.ContainerOf, "logical_parents": res.LogicalParents})
	}
	// Like ps fxa, one line a process; a process that enters namespaces or
	// a cgroup its parent is not in is marked at that boundary only.
	fmt.Fprintf(w, "%7s %-8s %s\n", "PID", "USER", "COMMAND")
	var walk func(n *inventory.TreeNode, prefix, parentCgroup string)
	walk = func(n *inventory.TreeNode, prefix, parentCgroup string) {
		cmd := n.Command()
		if n.Kernel {
			cmd = "[" + n.Comm + "]"
		}
		marks := nsMarks(n.NewNamespaces)
		if n.Cgroup != parentCgroup && n.Cgroup != "" {
			marks += "  {cgroup " + n.Cgroup + "}"
		}
		marks += runtimeMarks(n.Process, res, *logical)
		fmt.Fprintf(w, "%7d %-8s %s%s%s\n", n.PID, n.User, prefix, cmd, marks)
		for _, c := range n.Children {
			walk(c, strings.Repeat(" ", len(prefix))+" \\_ ", n.Cgroup)
		}
	}
	for _, r := range roots {
		walk(r, "", "/")
	}
	return nil
}

// runtimeMarks renders a process's runtime role, the container it starts
// or entered, and its other parent (logical in the real tree, real in the
// logical one): "  <shim> (logical parent 6765)".
func runtimeMarks(p *inventory.Process, res *containers.Result, logical bool) string {
	var b strings.Builder
	role := res.Role(p.PID)
	if role != containers.RoleHost && role != containers.RoleContainer {
		b.WriteString("  <" + string(role) + ">")
	}
	if id, ok := res.ContainerOf[p.PID]; ok && role != containers.RoleContainer {
		if c := res.Container(id); c != nil {
			fmt.Fprintf(&b, "  {container %s %s %s}", c.Runtime, c.Name, shortID(c.ID))
		}
	}
	if lp, ok := res.LogicalParents[p.PID]; ok {
		if logical {
			fmt.Fprintf(&b, "  (real parent %d)", p.PPID)
		} else {
			fmt.Fprintf(&b, "  (logical parent %d)", lp)
		}
	}
	return b.String()
}

// nsMarks renders a process's namespace boundaries: "  [+pid:4026532 +net:…]".
func nsMarks(m map[inventory.NSType]uint64) string {
	if len(m) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("  [")
	first := true
	for _, t := range inventory.NSTypes {
		ino, ok := m[t]
		if !ok {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString("+" + string(t) + ":" + strconv.FormatUint(ino, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// scan runs one inventory scan with the given optional fields.
func scan(paths inventory.Paths, fields inventory.Fields) (*inventory.Snapshot, error) {
	sc, err := inventory.NewScanner(inventory.Options{Paths: paths, Fields: fields})
	if err != nil {
		return nil, err
	}
	return sc.Scan(context.Background())
}

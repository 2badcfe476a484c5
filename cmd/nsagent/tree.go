package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nsagent/nsagent/inventory"
)

func init() {
	register(&command{name: "tree", summary: "show the process tree like ps fxa, with namespace boundaries and cgroups", run: runTree})
}

func runTree(args []string) error {
	fs := newFlagSet("tree", "[flags]")
	output := fs.StringP("output", "o", "table", "output format: table or json")
	paths := pathFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := outputFormat(*output, "table", "json"); err != nil {
		return err
	}
	snap, err := scan(*paths, inventory.FieldSecurity|inventory.FieldCgroupRefs)
	if err != nil {
		return err
	}
	roots := snap.Tree()
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	if *output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"processes": roots})
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

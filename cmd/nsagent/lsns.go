//go:build !launchonly

package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nsagent/nsagent/inventory"
	"github.com/nsagent/nsagent/inventory/lsns"
)

func init() {
	register(&command{name: "lsns", summary: "list namespaces, like util-linux lsns (and those held only by mounts or fds)", run: runLsns})
}

func runLsns(args []string) error {
	oneShotGC()
	fs := newFlagSet("lsns", "[flags] [NAMESPACE-INODE]")
	jsonOut := fs.BoolP("json", "J", false, "use JSON output format")
	list := fs.BoolP("list", "l", false, "use list format output (no tree)")
	noHead := fs.BoolP("noheadings", "n", false, "don't print headings")
	output := fs.StringP("output", "o", "", "columns to print (comma list; +COL appends to the defaults)")
	outputAll := fs.Bool("output-all", false, "print all columns")
	raw := fs.BoolP("raw", "r", false, "use the raw output format")
	pid := fs.IntP("task", "p", 0, "print the namespaces of process PID")
	typ := fs.StringP("type", "t", "", "namespace type (mnt, net, ipc, user, pid, uts, cgroup, time)")
	tree := fs.StringP("tree", "T", "", "use tree format (parent, owner, or process)")
	fs.Lookup("tree").NoOptDefVal = "process"
	fs.BoolP("notruncate", "u", false, "don't truncate text in columns (nsagent never truncates)")
	fs.BoolP("nowrap", "W", false, "don't use multi-line representation (accepted for lsns compatibility)")
	paths := pathFlags(fs)
	// pflag reads "-Towner" as -T followed by the shorthands -o -w...;
	// util-linux takes it as -T with the value "owner".
	for i, a := range args {
		if len(a) > 2 && a[:2] == "-T" {
			args[i] = "--tree=" + a[2:]
		}
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var f lsns.Filter
	if *typ != "" {
		t, ok := inventory.ParseNSType(*typ)
		if !ok {
			return fmt.Errorf("unknown namespace type: %s", *typ)
		}
		f.Type = t
	}
	if *pid < 0 {
		return usagef("invalid PID %d", *pid)
	}
	f.PID = *pid
	var only uint64
	switch fs.NArg() {
	case 0:
	case 1:
		v, err := strconv.ParseUint(fs.Arg(0), 10, 64)
		if err != nil {
			return fmt.Errorf("invalid namespace argument: %q", fs.Arg(0))
		}
		only = v
	default:
		return usagef("too many arguments: %v", fs.Args()[1:])
	}
	tr := lsns.TreeProcess
	if *list || only != 0 {
		tr = lsns.TreeNone
	}
	if *tree != "" {
		t, err := lsns.ParseTree(*tree)
		if err != nil {
			return err
		}
		tr = t
	}
	defaults := lsns.DefaultColumns
	if f.Type == inventory.NSNet {
		defaults = lsns.DefaultNetColumns
	}
	spec := *output
	if *outputAll {
		spec = ""
		for i, c := range lsns.Columns {
			if i > 0 {
				spec += ","
			}
			spec += c.Name
		}
	}
	cols, err := lsns.ParseColumns(spec, defaults)
	if err != nil {
		return err
	}

	fields := inventory.FieldFDs | inventory.FieldMounts
	for _, c := range cols {
		switch c.Name {
		case "NETNSID", "PNS", "ONS":
			fields |= inventory.FieldNSRelations
		case "IFACES":
			fields |= inventory.FieldNetInterfaces
		}
	}
	if tr == lsns.TreeParent || tr == lsns.TreeOwner {
		fields |= inventory.FieldNSRelations
	}
	sc, err := inventory.NewScanner(inventory.Options{Paths: *paths, Fields: fields})
	if err != nil {
		return err
	}
	snap, err := sc.Scan(context.Background())
	if err != nil {
		return err
	}
	rows, err := lsns.Build(snap, f, tr, paths.Procfs)
	if err != nil {
		return err
	}
	if only != 0 {
		kept := rows[:0]
		for _, r := range rows {
			if r.NS.Inode == only {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	if *jsonOut {
		b, err := lsns.JSON(rows, cols)
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	}
	return lsns.WriteTable(stdout, rows, cols, lsns.TableOptions{NoHeadings: *noHead, Raw: *raw, Tree: tr})
}

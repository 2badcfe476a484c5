//go:build !launchonly

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nsagent/nsagent/inventory"
)

func init() {
	register(&command{name: "cgroups", summary: "show the cgroup tree with limits and usage (v1, hybrid and v2 alike)", run: runCgroups})
}

func runCgroups(args []string) error {
	oneShotGC()
	fs := newFlagSet("cgroups", "[flags]")
	output := fs.StringP("output", "o", "table", "output format: table or json")
	paths := pathFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := outputFormat(*output, "table", "json"); err != nil {
		return err
	}
	cg, err := inventory.ReadCgroups(paths.Cgroupfs)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	if *output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(cg)
	}
	fmt.Fprintf(w, "# cgroup mode: %s\n", cg.Mode)
	fmt.Fprintf(w, "%-5s %10s %10s %4s %9s %10s %11s  %s\n", "PROCS", "MEM_LIMIT", "MEM_USAGE", "OOM", "CPU_QUOTA", "CPU_TIME", "PIDS", "PATH")
	for _, g := range cg.Groups {
		memLimit, memUsage, oom := "-", "-", "-"
		if m := g.Memory; m != nil {
			memLimit, memUsage, oom = optBytes(m.LimitBytes), humanBytes(m.UsageBytes), strconv.FormatUint(m.OOMKills, 10)
		}
		quota, cpuTime := "-", "-"
		if c := g.CPU; c != nil {
			quota = "max"
			if c.QuotaMicros != nil && c.PeriodMicros > 0 {
				quota = strconv.FormatFloat(float64(*c.QuotaMicros)/float64(c.PeriodMicros), 'g', 3, 64) + "cpu"
			}
			cpuTime = (time.Duration(c.UsageNanos) / time.Millisecond * time.Millisecond).String()
		}
		pids := "-"
		if p := g.Pids; p != nil {
			max := "max"
			if p.Max != nil {
				max = strconv.FormatUint(*p.Max, 10)
			}
			pids = strconv.FormatUint(p.Current, 10) + "/" + max
		}
		fmt.Fprintf(w, "%5d %10s %10s %4s %9s %10s %11s  %s\n", g.Procs, memLimit, memUsage, oom, quota, cpuTime, pids, g.Path)
	}
	return nil
}

func optBytes(v *uint64) string {
	if v == nil {
		return "max"
	}
	return humanBytes(*v)
}

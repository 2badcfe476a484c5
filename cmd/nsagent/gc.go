//go:build !launchonly

package main

import "fmt"

func init() {
	register(&command{name: "gc", summary: "remove the leftovers of workloads whose processes are gone", run: runGC})
}

func runGC(args []string) error {
	fs := newFlagSet("gc", "[flags]")
	l := launcherFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rep, err := l.GC()
	for _, id := range rep.Workloads {
		fmt.Println("removed workload", id)
	}
	for _, d := range rep.Cgroups {
		fmt.Println("removed cgroup", d)
	}
	for _, id := range rep.Addresses {
		fmt.Println("released bridge address of", id)
	}
	for _, d := range rep.Cache {
		fmt.Println("removed partial unpacking", d)
	}
	return err
}

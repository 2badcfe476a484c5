//go:build !launchonly

package main

import (
	"fmt"
	"os"
)

func init() {
	register(&command{name: "rm", summary: "remove ended workloads (-f: kill running ones first)", run: runRm})
}

func runRm(args []string) error {
	fs := newFlagSet("rm", "[-f] NAME...")
	l := launcherFlags(fs)
	force := fs.BoolP("force", "f", false, "kill a running workload first")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("need a workload NAME")
	}
	var failed bool
	for _, ref := range fs.Args() {
		if _, err := l.Remove(ref, *force); err != nil {
			fmt.Fprintln(os.Stderr, "nsagent rm:", err)
			failed = true
			continue
		}
		fmt.Println(ref)
	}
	if failed {
		return exitError{code: 1}
	}
	return nil
}

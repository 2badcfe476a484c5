package main

import (

	// The C constructors: the workload's init, run before the Go runtime
	// when the launcher starts this binary as `nsagent init`, and the
	// joining of a workload's namespaces for exec.
	_ "github.com/nsagent/nsagent/launcher/nsenter"
)

func init() {
	// The launcher's init never reaches Go (package nsenter's constructor
	// runs it and execve's or exits); this is `nsagent init` typed by hand.
	register(&command{name: "init", summary: "the workload's init (internal)", hidden: true, run: func([]string) error {
		return exitError{code: 125, msg: "nsagent init: the workload's init, started by nsagent launch only"}
	}})
}

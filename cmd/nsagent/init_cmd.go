package main

import (
	"os"
	"runtime"

	"github.com/nsagent/nsagent/launcher"
	// The C constructor that joins a workload's namespaces for exec.
	_ "github.com/nsagent/nsagent/launcher/nsenter"
)

func init() {
	// The workload's init sets its credentials, cgroup namespace and
	// parent-death signal on its thread alone and then execve's from it:
	// lock the main goroutine to the main thread before anything else
	// runs, as runc does.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		runtime.LockOSThread()
	}
	register(&command{name: "init", summary: "the workload's init (internal)", hidden: true, run: func([]string) error {
		launcher.Init()
		return nil
	}})
}

package main

func init() {
	register(&command{name: "net-teardown", summary: "tear down an idle bridge (internal)", hidden: true, run: runNetTeardown})
}

// runNetTeardown is what the last workload to leave a bridge starts in
// the background (launcher.Launcher.TeardownArgs): it removes the bridge
// and its rules if no workload has joined it since.
func runNetTeardown(args []string) error {
	fs := newFlagSet("net-teardown", "[flags] BRIDGE")
	l := launcherFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("need a BRIDGE")
	}
	return l.TearDownIdle(fs.Arg(0))
}

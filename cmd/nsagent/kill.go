//go:build !launchonly

package main

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func init() {
	register(&command{name: "kill", summary: "send a signal to a workload (default KILL)", run: runKill})
}

func runKill(args []string) error {
	fs := newFlagSet("kill", "[-s SIGNAL] NAME...")
	l := launcherFlags(fs)
	sigName := fs.StringP("signal", "s", "KILL", "signal name or number")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("need a workload NAME")
	}
	sig, err := parseSignal(*sigName)
	if err != nil {
		return usageError{err}
	}
	var failed error
	for _, ref := range fs.Args() {
		if _, err := l.Kill(ref, sig); err != nil {
			failed = err
			fmt.Println("nsagent kill:", err)
			continue
		}
		fmt.Println(ref)
	}
	if failed != nil {
		return exitError{code: 1}
	}
	return nil
}

// parseSignal takes KILL, SIGKILL, kill or 9.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

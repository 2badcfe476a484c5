//go:build !launchonly

package main

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"

	flag "github.com/spf13/pflag"

	"github.com/nsagent/nsagent/launcher"
)

func init() {
	register(&command{name: "exec", summary: "run a command in a running workload's namespaces and cgroup", run: runExec})
}

func runExec(args []string) error {
	fs := newFlagSet("exec", "[flags] NAME COMMAND [ARG...]")
	fs.SetInterspersed(false)
	l := launcherFlags(fs)
	fs.BoolP("interactive", "i", false, "keep stdin attached (it always is)")
	tty := fs.BoolP("tty", "t", false, "give the command a new pty")
	env := fs.StringArrayP("env", "e", nil, "set an environment variable (KEY=VALUE)")
	workdir := fs.StringP("workdir", "w", "", "working directory in the workload")
	user := fs.StringP("user", "u", "", "UID[:GID] to run the command as")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError{code: launcher.ExitLaunchError, msg: err.Error()}
	}
	if fs.NArg() < 2 {
		return exitError{code: launcher.ExitLaunchError, msg: "need NAME and COMMAND (nsagent exec [flags] NAME COMMAND [ARG...])"}
	}
	st, err := l.Store.Get(fs.Arg(0))
	if err != nil {
		return exitError{code: launcher.ExitLaunchError, msg: err.Error()}
	}
	cmd, err := l.ExecCommand(st, "", fs.Args()[1:], *env, *workdir, *user)
	if err != nil {
		return exitError{code: launcher.ExitLaunchError, msg: err.Error()}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// With -t the command's pty is made inside the workload, on its own
	// devpts (so `tty` names it there); the master comes back here.
	var recvConsole func() (*os.File, error)
	if *tty {
		if recvConsole, err = launcher.ExecConsole(cmd); err != nil {
			return exitError{code: launcher.ExitLaunchError, msg: err.Error()}
		}
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return exitError{code: launcher.ExitLaunchError, msg: err.Error()}
	}
	var restore func()
	if recvConsole != nil {
		// No master means the command failed first: its status says why.
		if master, err := recvConsole(); err == nil {
			defer master.Close()
			restore = launcher.AttachPTY(master, os.Stdin, os.Stdout)
		}
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	if restore != nil {
		restore()
	}
	// The constructor exits with the command's status (128+N for a
	// signal) or 125/126/127 having printed why.
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitError{code: ee.ExitCode()}
	}
	if err != nil {
		return exitError{code: launcher.ExitLaunchError, msg: err.Error()}
	}
	return nil
}

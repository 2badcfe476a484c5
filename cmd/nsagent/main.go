// Command nsagent inspects and isolates Linux workloads: it lists the host's
// namespaces, processes and cgroups (lsns, tree, cgroups), serves them as
// Prometheus metrics and a web view (serve), and runs workloads in their own
// namespaces and cgroups (launch and its lifecycle commands).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	flag "github.com/spf13/pflag"
)

// command is one subcommand. run gets the arguments after the command name
// and returns an error; a usageError exits 2, anything else exits 1 unless
// it carries its own status (exitError).
type command struct {
	name    string
	summary string
	run     func(args []string) error
	// hidden commands (the launcher's init) are not listed in help.
	hidden bool
}

// commands is filled by the init functions of each command's file, so a
// command lives in one file and main does not change when one is added.
var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("nsagent: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// usageError is a mistake in how nsagent was called: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitError carries an exit status of its own (the launcher's 125/126/127
// and a workload's status). An empty message prints nothing.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// stdout is where commands write their output; tests capture it.
var stdout io.Writer = os.Stdout

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printHelp(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-V" {
		args[0] = "version"
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "nsagent: unknown command %q (see nsagent --help)\n", args[0])
		return 2
	}
	err := c.run(args[1:])
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(stderr, "nsagent %s: %s\n", c.name, ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "nsagent %s: %v\n", c.name, err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "Usage: nsagent COMMAND [FLAGS] [ARGS]")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'nsagent COMMAND --help' for a command's flags.")
}

// newFlagSet returns a flag set for a command that reports errors through
// its return value (so they become usage errors) rather than exiting.
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SortFlags = false
	fs.Usage = func() {
		// Straight to stderr: parseFlags silences the flag set's own
		// output while parsing, and -h prints from inside Parse.
		fmt.Fprintf(os.Stderr, "Usage: nsagent %s %s\n\nFlags:\n%s", name, usage, fs.FlagUsages())
	}
	fs.SetOutput(os.Stderr)
	return fs
}

// parseFlags parses args into fs, turning a parse failure into a usage
// error that names the bad flag.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return err // pflag has printed the usage
	}
	if err != nil {
		return usageError{err}
	}
	return nil
}

// outputFormat validates an -o value against the formats a command offers.
func outputFormat(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return usagef("unknown output format %q (want %s)", v, strings.Join(allowed, " or "))
}

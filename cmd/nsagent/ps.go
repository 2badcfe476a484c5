//go:build !launchonly

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nsagent/nsagent/inventory"
	"github.com/nsagent/nsagent/launcher"
)

func init() {
	register(&command{name: "ps", summary: "list workloads started by nsagent launch", run: runPs})
}

func runPs(args []string) error {
	fs := newFlagSet("ps", "[flags]")
	l := launcherFlags(fs)
	all := fs.BoolP("all", "a", false, "show workloads that have ended too")
	output := fs.StringP("output", "o", "table", "output format: table or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := outputFormat(*output, "table", "json"); err != nil {
		return err
	}
	states, err := l.Store.List()
	if err != nil {
		return err
	}
	shown := []*launcher.State{}
	for _, st := range states {
		if *all || st.Status == launcher.StatusRunning || st.Status == launcher.StatusCreated {
			shown = append(shown, st)
		}
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if *output == "json" {
		// A running workload's confinement as the kernel reports it for
		// its init (/proc/<pid>/status), beside what it was given.
		type psEntry struct {
			*launcher.State
			Security *inventory.Security `json:"security,omitempty"`
		}
		out := make([]psEntry, 0, len(shown))
		for _, st := range shown {
			e := psEntry{State: st}
			if st.Status == launcher.StatusRunning && st.Alive() {
				if sec, err := inventory.ReadSecurity("/proc", st.Pid); err == nil {
					e.Security = &sec
				}
			}
			out = append(out, e)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(w, "%-12s %-16s %7s %-14s %4s %-20s %-24s %-24s %-28s %s\n", "ID", "NAME", "PID", "STATUS", "EXIT", "CREATED", "COMMAND", "LIMITS", "CGROUP", "NETWORK")
	for _, st := range shown {
		status := string(st.Status)
		if st.OOMKilled {
			status += " (OOMKilled)"
		}
		exit := "-"
		if st.Status == launcher.StatusExited {
			exit = strconv.Itoa(st.ExitCode)
		}
		cmd := strings.Join(st.Command, " ")
		if len(cmd) > 24 {
			cmd = cmd[:21] + "..."
		}
		fmt.Fprintf(w, "%-12s %-16s %7d %-14s %4s %-20s %-24s %-24s %-28s %s\n", st.ID[:12], st.Name, st.Pid, status, exit,
			st.Created.Local().Format(time.DateTime), cmd, limitsString(st.Limits), st.CgroupPath, networkString(st))
	}
	return nil
}

func limitsString(l launcher.Limits) string {
	var parts []string
	if l.Memory > 0 {
		parts = append(parts, "mem="+humanBytes(uint64(l.Memory)))
	}
	if l.CPUs > 0 {
		parts = append(parts, "cpus="+strconv.FormatFloat(l.CPUs, 'g', -1, 64))
	}
	if l.Pids > 0 {
		parts = append(parts, "pids="+strconv.FormatInt(l.Pids, 10))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// networkString is the NETWORK column: the kind, and for a bridge the
// workload's interface, address, bridge and published ports.
func networkString(st *launcher.State) string {
	n := st.Net
	if n == nil || n.Bridge == "" {
		return st.Network
	}
	s := fmt.Sprintf("%s %s=%s@%s", st.Network, n.Interface, n.Address, n.Bridge)
	for _, p := range n.Ports {
		s += " " + p.String()
	}
	return s
}

// humanBytes prints a byte count in binary units, as docker stats does.
func humanBytes(v uint64) string {
	const unit = 1024
	if v < unit {
		return strconv.FormatUint(v, 10) + "B"
	}
	div, exp := uint64(unit), 0
	for n := v / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	s := strconv.FormatFloat(float64(v)/float64(div), 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + string("KMGTPE"[exp]) + "iB"
}

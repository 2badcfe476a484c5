//go:build !launchonly

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nsagent/nsagent/inventory"
	"github.com/nsagent/nsagent/inventory/containers"
)

func init() {
	register(&command{name: "containers", summary: "list the host's containers (docker, containerd, cri-o, podman, runc, nsagent) with limits, namespaces and entrants", run: runContainers})
}

func runContainers(args []string) error {
	oneShotGC()
	fs := newFlagSet("containers", "[flags]")
	output := fs.StringP("output", "o", "table", "output format: table or json")
	paths := pathFlags(fs)
	copts := containerFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := outputFormat(*output, "table", "json"); err != nil {
		return err
	}
	_, res, err := scanContainers(*paths, copts, containerFields)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	if *output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"containers": res.Containers, "findings": res.Findings, "errors": res.Errors})
	}
	writeContainersTable(w, res)
	return nil
}

// containerFlags adds the runtime metadata roots to fs.
func containerFlags(fs interface {
	StringVar(p *string, name, value, usage string)
}) *containers.Options {
	o := &containers.Options{}
	fs.StringVar(&o.DockerRoot, "path.docker", "", "Docker's data root (default: dockerd's --data-root or /var/lib/docker)")
	fs.StringVar(&o.NsagentState, "path.nsagent-state", "/run/nsagent", "nsagent's workload state directory")
	return o
}

// containerFields is what `nsagent containers` scans: cgroup refs to find
// containers, the cgroup tree for their limits, security for their
// posture, fds and mounts to find namespaces no process is in.
const containerFields = inventory.FieldTree | inventory.FieldDetails | inventory.FieldSecurity | inventory.FieldCgroupRefs | inventory.FieldCgroupTree | inventory.FieldFDs | inventory.FieldMounts

// scanContainers scans the host with fields and describes its containers.
// Without FieldCgroupTree the containers come without limits.
func scanContainers(paths inventory.Paths, copts *containers.Options, fields inventory.Fields) (*inventory.Snapshot, *containers.Result, error) {
	snap, err := scan(paths, fields)
	if err != nil {
		return nil, nil, err
	}
	o := *copts
	o.Procfs, o.Rootfs = paths.Procfs, paths.Rootfs
	res, err := containers.Discover(snap, o)
	if err != nil {
		return nil, nil, err
	}
	return snap, res, nil
}

func writeContainersTable(w *bufio.Writer, res *containers.Result) {
	fmt.Fprintf(w, "%-12s %-28s %-10s %7s %5s %9s %7s %6s %-8s %s\n",
		"CONTAINER", "NAME", "RUNTIME", "PID", "PROCS", "MEM_LIMIT", "CPU", "PIDS", "ENTRANTS", "CGROUP")
	for _, c := range res.Containers {
		cpu := "max"
		if c.CPUQuotaMicros != nil && c.CPUPeriodMicros > 0 {
			cpu = strconv.FormatFloat(float64(*c.CPUQuotaMicros)/float64(c.CPUPeriodMicros), 'g', 3, 64)
		}
		pids := "max"
		if c.PidsLimit != nil {
			pids = strconv.FormatUint(*c.PidsLimit, 10)
		}
		var ents []string
		for _, e := range c.Entrants {
			ents = append(ents, e.Via+":"+strconv.Itoa(e.PID))
		}
		entrants := "-"
		if len(ents) > 0 {
			entrants = strings.Join(ents, ",")
		}
		name := c.Name
		if c.Pod != nil && c.Pod.Name != "" && c.Kind != "sandbox" {
			name = c.Pod.Namespace + "/" + c.Pod.Name + "/" + c.Name
		}
		fmt.Fprintf(w, "%-12s %-28s %-10s %7d %5d %9s %7s %6s %-8s %s\n",
			shortID(c.ID), name, c.Runtime, c.PID, c.ProcessCount, optBytes(c.MemoryLimitBytes), cpu, pids, entrants, c.Cgroup)
	}
	for _, f := range res.Findings {
		fmt.Fprintf(w, "# %s: %s\n", f.Kind, f.Message)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "# error: %s\n", e)
	}
}

// shortID is the first 12 characters of an id, as docker ps prints it.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

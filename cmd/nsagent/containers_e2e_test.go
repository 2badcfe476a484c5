package main

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/nsagent/nsagent/inventory/containers"
)

// TestContainersListsWorkload launches a detached workload and requires
// `nsagent containers` to list it as nsagent's, with the launcher's id,
// name and pid, the memory limit the kernel holds, and the namespaces of
// /proc/<pid>/ns.
func TestContainersListsWorkload(t *testing.T) {
	e := newE2E(t)
	if r := e.run("", "launch", "-d", "--name", "ctr-listed", "--mem", "8M", "--pids", "20", e.rootfs, "sleep", "600"); r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	st := e.get("ctr-listed")
	r := e.run("", "containers", "-o", "json", "--path.nsagent-state", e.env.StateDir)
	if r.Code != 0 {
		t.Fatalf("containers: %d %s", r.Code, r.Stderr)
	}
	var doc struct {
		Containers []*containers.Container `json:"containers"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("containers json: %v", err)
	}
	var c *containers.Container
	for _, x := range doc.Containers {
		if x.ID == st.ID {
			c = x
		}
	}
	if c == nil {
		t.Fatalf("workload %s (pid %d) not listed:\n%s", st.ID, st.Pid, r.Stdout)
	}
	if c.Runtime != containers.RuntimeNsagent || c.Name != "ctr-listed" || c.PID != st.Pid {
		t.Errorf("listed as runtime %q name %q pid %d; want nsagent ctr-listed %d", c.Runtime, c.Name, c.PID, st.Pid)
	}
	if c.MemoryLimitBytes == nil || *c.MemoryLimitBytes != 8<<20 {
		t.Errorf("memory limit %v, want %d", c.MemoryLimitBytes, 8<<20)
	}
	if c.PidsLimit == nil || *c.PidsLimit != 20 {
		t.Errorf("pids limit %v, want 20", c.PidsLimit)
	}
	for typ, ino := range c.Namespaces {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", st.Pid, typ))
		if err != nil || l != fmt.Sprintf("%s:[%d]", typ, ino) {
			t.Errorf("namespace %s: listed %d, /proc says %q (%v)", typ, ino, l, err)
		}
	}
	if len(c.Namespaces) < 6 {
		t.Errorf("only %d namespaces listed: %v", len(c.Namespaces), c.Namespaces)
	}
	if r := e.run("", "rm", "-f", "ctr-listed"); r.Code != 0 {
		t.Fatalf("rm: %d %s", r.Code, r.Stderr)
	}
	e.assertClean()
}

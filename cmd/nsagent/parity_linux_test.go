package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
)

// lsnsEntry is one namespace of an lsns -J document, children flattened.
type lsnsEntry struct {
	NS      uint64 `json:"ns"`
	Type    string `json:"type"`
	NProcs  int    `json:"nprocs"`
	PID     *int   `json:"pid"`
	User    string `json:"user"`
	Command string `json:"command"`
	NSFS    any    `json:"nsfs"`
}

type nsKey struct {
	ns  uint64
	typ string
}

func parseLsnsJSON(t *testing.T, tool string, b []byte) map[nsKey]lsnsEntry {
	t.Helper()
	var doc struct {
		Namespaces []json.RawMessage `json:"namespaces"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: bad JSON: %v\n%s", tool, err, b)
	}
	out := make(map[nsKey]lsnsEntry)
	var walk func([]json.RawMessage)
	walk = func(raws []json.RawMessage) {
		for _, raw := range raws {
			var e lsnsEntry
			var kids struct {
				Children []json.RawMessage `json:"children"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("%s: entry %s: %v", tool, raw, err)
			}
			_ = json.Unmarshal(raw, &kids)
			out[nsKey{e.NS, e.Type}] = e
			walk(kids.Children)
		}
	}
	walk(doc.Namespaces)
	return out
}

func readNSInode(t *testing.T, pid int, typ string) uint64 {
	t.Helper()
	target, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, typ))
	if err != nil {
		t.Fatal(err)
	}
	var ino uint64
	if _, err := fmt.Sscanf(target, typ+":[%d]", &ino); err != nil {
		t.Fatalf("parse %q: %v", target, err)
	}
	return ino
}

// waitChild returns the pid of the only child of pid, waiting for it to
// appear (unshare --fork starts its child a moment after itself).
func waitChild(t *testing.T, pid int) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if f := strings.Fields(string(b)); len(f) > 0 {
			c, _ := strconv.Atoi(f[0])
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pid %d has no child", pid)
	return 0
}

// TestLsnsParity runs util-linux lsns -J and nsagent lsns -J on the live host
// after making namespaces of every kind of holder, and requires the same
// namespaces with the same type, nprocs, lowest pid, user and command, plus
// the namespaces held only by a mount or an fd, which lsns 2.38 misses.
func TestLsnsParity(t *testing.T) {
	if testing.Short() {
		t.Skip("live host")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "lsns")
	testutil.RequireCommand(t, "unshare")
	testutil.RequireCommand(t, "ip")
	bin := testutil.NSAgentBinary(t)

	// 1. Processes in new pid, net, uts, ipc and mnt namespaces: one with a
	// single sleep, one with three processes.
	type set struct {
		outer, inner int
		nprocs       int
	}
	var sets []set
	for _, script := range []string{"exec sleep 600", "sleep 600 & sleep 600 & wait"} {
		cmd := exec.Command("unshare", "--fork", "--pid", "--net", "--uts", "--ipc", "--mount", "--mount-proc", "--kill-child", "sh", "-c", script)
		testutil.Start(t, cmd)
		inner := waitChild(t, cmd.Process.Pid)
		n := 1
		if strings.Contains(script, "&") {
			n = 3
			for i := 0; i < 100; i++ {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", inner, inner))
				if len(strings.Fields(string(b))) == 2 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		sets = append(sets, set{outer: cmd.Process.Pid, inner: inner, nprocs: n})
	}

	// 2. A network namespace held only by a bind mount (ip netns add).
	name := fmt.Sprintf("nsagent-parity-%d", rand.Intn(1<<30))
	testutil.Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	var st syscallStat
	mountIno := statIno(t, "/run/netns/"+name, &st)

	// 3. A network namespace held only by an open fd: a process opens a
	// named netns, then the name is deleted.
	fdName := name + "-fd"
	testutil.Run(t, "ip", "netns", "add", fdName)
	fdIno := statIno(t, "/run/netns/"+fdName, &st)
	holder := testutil.Start(t, exec.Command("sh", "-c", "exec 7</run/netns/"+fdName+"; exec sleep 600"))
	for i := 0; i < 100; i++ {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/7", holder.Process.Pid)); strings.HasPrefix(l, "net:") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	testutil.Run(t, "ip", "netns", "delete", fdName)

	// 4. A Docker container.
	testutil.RequireDocker(t)
	image := testutil.DockerImage(t)
	cid := testutil.DockerRun(t, "--label", "nsagent-test=1", image, "sleep", "600")
	ctrPID, _ := strconv.Atoi(strings.TrimSpace(testutil.Run(t, "docker", "inspect", "-f", "{{.State.Pid}}", cid)))
	if ctrPID == 0 {
		t.Fatal("docker inspect: no pid")
	}

	cols := "NS,TYPE,NPROCS,PID,USER,COMMAND"
	runLsns := func() map[nsKey]lsnsEntry {
		// util-linux lsns exits 1 when a process vanishes under it (other
		// tests start and end processes all the time): try again.
		var err error
		for try := 0; try < 5; try++ {
			var out []byte
			if out, err = exec.Command("lsns", "-J", "-o", cols).Output(); err == nil {
				return parseLsnsJSON(t, "lsns", out)
			}
		}
		t.Fatalf("lsns failed 5 times: %v", err)
		return nil
	}
	runNsagent := func() map[nsKey]lsnsEntry {
		out, err := exec.Command(bin, "lsns", "-J", "-o", cols+",NSFS").Output()
		if err != nil {
			t.Fatalf("nsagent lsns: %v", err)
		}
		return parseLsnsJSON(t, "nsagent", out)
	}
	// Other tests start and end processes all the time, the host's own
	// namespaces' counts move under both tools, and a burst of short-lived
	// processes can come and go between the runs: a round of lsns,
	// nsagent, lsns, nsagent is repeated (up to 3 times) until one agrees.
	var l1, n1, l2, n2 map[nsKey]lsnsEntry
	var problems []string
	checked := 0
	for round := 0; round < 3; round++ {
		l1, n1, l2, n2 = runLsns(), runNsagent(), runLsns(), runNsagent()
		problems, checked = compareParity(l1, n1, l2, n2)
		if len(problems) == 0 {
			break
		}
		t.Logf("round %d: %d differences, trying again: %s", round+1, len(problems), strings.Join(problems, "; "))
	}
	for _, p := range problems {
		t.Error(p)
	}

	// The namespaces this test made, exactly.
	for _, s := range sets {
		for _, typ := range []string{"pid", "net", "uts", "ipc", "mnt"} {
			ino := readNSInode(t, s.inner, typ)
			want := s.nprocs
			wantPID := s.inner
			if typ != "pid" { // unshare itself is in the new net/uts/ipc/mnt namespaces too
				want++
				wantPID = s.outer
			}
			for tool, m := range map[string]map[nsKey]lsnsEntry{"lsns": l1, "nsagent": n1} {
				e, ok := m[nsKey{ino, typ}]
				if !ok {
					t.Errorf("%s: %s namespace %d of unshare %d missing", tool, typ, ino, s.outer)
					continue
				}
				if e.NProcs != want || deref(e.PID) != wantPID || e.User != "root" {
					t.Errorf("%s: %s %d: nprocs %d pid %d user %q, want %d %d root", tool, typ, ino, e.NProcs, deref(e.PID), e.User, want, wantPID)
				}
			}
		}
	}
	for _, typ := range []string{"pid", "net", "mnt", "uts", "ipc"} {
		ino := readNSInode(t, ctrPID, typ)
		e, ok := n1[nsKey{ino, typ}]
		if !ok || deref(e.PID) != ctrPID || e.Command != "sleep 600" {
			t.Errorf("docker container %s namespace %d: nsagent has %+v (ok %v), want pid %d", typ, ino, e, ok, ctrPID)
		}
	}
	if e, ok := n1[nsKey{mountIno, "net"}]; !ok || e.NProcs != 0 || fmt.Sprint(e.NSFS) != "/run/netns/"+name {
		t.Errorf("mount-held netns %d: nsagent has %+v (ok %v), want nprocs 0 and nsfs /run/netns/%s", mountIno, e, ok, name)
	}
	if _, ok := l1[nsKey{mountIno, "net"}]; ok {
		t.Logf("note: this lsns lists mount-held namespaces too")
	}
	if e, ok := n1[nsKey{fdIno, "net"}]; !ok || e.NProcs != 0 {
		t.Errorf("fd-held netns %d: nsagent has %+v (ok %v), want it with nprocs 0", fdIno, e, ok)
	}
	t.Logf("compared %d namespaces seen by lsns in both runs; lsns %d, nsagent %d entries", checked, len(l1), len(n1))
	if checked < 20 {
		t.Errorf("only %d namespaces compared; the host should have at least the 8 host ones and this test's 15", checked)
	}
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// isOwnNS reports whether k is one of this test process's own namespaces,
// where both tools (and other tests) add and remove processes.
func isOwnNS(k nsKey) bool {
	l, err := os.Readlink("/proc/self/ns/" + k.typ)
	return err == nil && l == fmt.Sprintf("%s:[%d]", k.typ, k.ns)
}

// compareParity checks nsagent's runs n1 and n2 against lsns's l1 and l2
// (taken before each) and returns the differences and the number of
// namespaces compared.
func compareParity(l1, n1, l2, n2 map[nsKey]lsnsEntry) (problems []string, checked int) {
	// Every namespace lsns saw in both runs with the same figures, nsagent
	// saw with the same figures. Counts of namespaces whose processes come
	// and go (the host's, where other tests run) may move between runs:
	// nsagent's count must lie within what lsns saw, give or take the two
	// tools' own processes.
	for k, a := range l1 {
		b, ok := l2[k]
		if !ok {
			continue // ended between the lsns runs
		}
		got, ok := n1[k]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s %d (pid %v %q): listed by lsns, missing from nsagent", k.typ, k.ns, deref(a.PID), a.Command))
			continue
		}
		checked++
		lo, hi := min(a.NProcs, b.NProcs), max(a.NProcs, b.NProcs)
		if a.NProcs == b.NProcs && !isOwnNS(k) {
			lo, hi = a.NProcs, a.NProcs
		} else {
			lo, hi = lo-2, hi+2
		}
		if got.NProcs < lo || got.NProcs > hi {
			problems = append(problems, fmt.Sprintf("%s %d: nprocs %d, lsns saw %d then %d", k.typ, k.ns, got.NProcs, a.NProcs, b.NProcs))
		}
		// Compared when lsns saw the same process both times: a process
		// that exec'd in between (a container's `runc init` becoming its
		// command, on a host where other tests start containers) changed
		// under the tools.
		stable := deref(a.PID) == deref(b.PID) && a.User == b.User && a.Command == b.Command
		if stable && (deref(got.PID) != deref(a.PID) || got.User != a.User || got.Command != a.Command) {
			problems = append(problems, fmt.Sprintf("%s %d: nsagent pid %v user %q command %q; lsns pid %v user %q command %q",
				k.typ, k.ns, deref(got.PID), got.User, got.Command, deref(a.PID), a.User, a.Command))
		}
	}
	// What nsagent lists with processes and lsns never saw must have been
	// a namespace that lived only between lsns's runs: gone by nsagent's
	// second run.
	for k, e := range n1 {
		if e.NProcs == 0 {
			continue
		}
		if _, ok := l1[k]; ok {
			continue
		}
		if _, ok := l2[k]; ok {
			continue
		}
		if _, still := n2[k]; still {
			problems = append(problems, fmt.Sprintf("%s %d (pid %v %q): listed by nsagent in both runs, never by lsns", k.typ, k.ns, deref(e.PID), e.Command))
		}
	}
	return problems, checked
}

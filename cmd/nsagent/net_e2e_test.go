package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
	"github.com/nsagent/nsagent/launcher"
)

// newNetE2E is an end-to-end sandbox for the networking tests: the tools
// that check the host from outside, and a snapshot of the host's network
// configuration that must be the same when the test ends.
func newNetE2E(t *testing.T) (*e2e, testutil.HostNet) {
	t.Helper()
	e := newE2E(t)
	for _, c := range []string{"ip", "nft", "iptables-save"} {
		testutil.RequireCommand(t, c)
	}
	before := testutil.SnapshotHostNet(t, e.env.Bridge)
	stateBefore := testutil.DirListing(e.env.StateDir)
	// Registered after newE2E's clean-up, so it runs before it: the
	// host must be restored by nsagent itself, not by the test's rm -f.
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		e.assertNetRestored(before, stateBefore)
	})
	return e, before
}

// assertNetRestored checks that the host's links, addresses, routes and
// rules, and the state directory, are as before.
func (e *e2e) assertNetRestored(before testutil.HostNet, stateBefore []string) {
	e.t.Helper()
	// A finished workload's veth pair goes with its network namespace,
	// which the kernel dismantles in the background: give it a moment.
	var d string
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if d = before.Diff(testutil.SnapshotHostNet(e.t, e.env.Bridge)); d == "" || time.Now().After(end) {
			break
		}
	}
	if d != "" {
		e.t.Errorf("host network state changed:\n%s", d)
	}
	// The background tear-down empties the list of departed veths
	// after the last of them went.
	e.env.WaitIdleBridges()
	got := testutil.DirListing(e.env.StateDir)
	// The two lock files stay (as the store's own lock does), and so does
	// the cache (compiled seccomp profiles, unpacked root filesystems),
	// which outlives workloads by design.
	var extra []string
	for _, p := range got {
		if p == "cache" || strings.HasPrefix(p, "cache/") {
			continue
		}
		if p != "." && p != ".lock" && p != ".net.lock" && !contains(stateBefore, p) {
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		e.t.Errorf("state directory has new entries: %v", extra)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// launchD starts a detached workload and returns its state.
func (e *e2e) launchD(args ...string) *launcher.State {
	e.t.Helper()
	r := e.run("", append([]string{"launch", "-d"}, args...)...)
	if r.Code != 0 {
		e.t.Fatalf("launch -d %v: %d %s", args, r.Code, r.Stderr)
	}
	id := strings.TrimSpace(r.Stdout)
	for _, st := range e.ps() {
		if st.ID == id {
			return st
		}
	}
	e.t.Fatalf("workload %s not in ps", id)
	return nil
}

func (e *e2e) rmf(refs ...string) {
	e.t.Helper()
	for _, ref := range refs {
		if r := e.run("", "rm", "-f", ref); r.Code != 0 {
			e.t.Errorf("rm -f %s: %d %s", ref, r.Code, r.Stderr)
		}
	}
}

// outside is an "outside host": a network namespace joined to the host by
// a veth of its own on a /30, with no route back to the bridge's subnet,
// so a workload's connection reaches it only masqueraded.
type outside struct {
	ns, hostIf string
	hostAddr   string // the host's end
	addr       string // the outside host
}

func newOutside(t *testing.T) *outside {
	t.Helper()
	sfx := randHex(3)
	o := &outside{ns: "nsagent-test-out-" + sfx, hostIf: "nsout" + sfx}
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	third := 200 + int(b[0])%50
	o.hostAddr, o.addr = fmt.Sprintf("192.168.%d.1", third), fmt.Sprintf("192.168.%d.2", third)
	testutil.Run(t, "ip", "netns", "add", o.ns)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", o.hostIf).Run()
		_ = exec.Command("ip", "netns", "del", o.ns).Run()
	})
	for _, c := range [][]string{
		{"link", "add", o.hostIf, "type", "veth", "peer", "name", "eth0", "netns", o.ns},
		{"addr", "add", o.hostAddr + "/30", "dev", o.hostIf},
		{"link", "set", o.hostIf, "up"},
		{"-n", o.ns, "addr", "add", o.addr + "/30", "dev", "eth0"},
		{"-n", o.ns, "link", "set", "eth0", "up"},
		{"-n", o.ns, "link", "set", "lo", "up"},
	} {
		testutil.Run(t, "ip", c...)
	}
	return o
}

// httpd runs busybox httpd in the outside namespace on port with a CGI
// that answers the peer's address.
func (o *outside) httpd(t *testing.T, port int) {
	t.Helper()
	dir := t.TempDir()
	cgi := filepath.Join(dir, "cgi-bin", "peer")
	if err := os.MkdirAll(filepath.Dir(cgi), 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/busybox sh\necho 'Content-Type: text/plain'\necho\necho \"peer=$REMOTE_ADDR\"\n"
	if err := os.WriteFile(cgi, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Start(t, exec.Command("ip", "netns", "exec", o.ns, "/bin/busybox", "httpd", "-f", "-p", fmt.Sprintf("%s:%d", o.addr, port), "-h", dir))
	o.waitPort(t, port)
}

// waitPort waits until something in the outside namespace listens on port.
func (o *outside) waitPort(t *testing.T, port int) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		out, _ := exec.Command("ip", "netns", "exec", o.ns, "/bin/busybox", "netstat", "-ltn").Output()
		if strings.Contains(string(out), fmt.Sprintf(":%d ", port)) {
			return
		}
	}
	t.Fatalf("nothing listens on %d in %s", port, o.ns)
}

func requireDockerForwardDrop(t *testing.T) {
	t.Helper()
	out, err := exec.Command("iptables", "-S", "FORWARD").Output()
	if err != nil || !strings.Contains(string(out), "-P FORWARD DROP") || exec.Command("iptables", "-S", "DOCKER-USER").Run() != nil {
		testutil.Unavailable(t, "dockerd running with its iptables rules (FORWARD policy DROP, DOCKER-USER): scripts/services.sh start")
	}
}

func TestNetBridgeWorkloadsReachEachOther(t *testing.T) {
	e, _ := newNetE2E(t)
	a := e.launchD("--name", "neta", e.rootfs, "sleep", "1000")
	b := e.launchD("--name", "netb", e.rootfs, "sleep", "1000")
	if a.Net == nil || b.Net == nil || a.Net.Address == "" || a.Net.Address == b.Net.Address {
		t.Fatalf("want two distinct addresses, got %+v and %+v", a.Net, b.Net)
	}
	if a.Net.Bridge != e.env.Bridge || a.Net.HostVeth == "" {
		t.Errorf("network state %+v: want bridge %s and a host veth", a.Net, e.env.Bridge)
	}
	// The bridge, both veths on it.
	for _, v := range []string{a.Net.HostVeth, b.Net.HostVeth} {
		out := testutil.Run(t, "ip", "-o", "link", "show", v)
		if !strings.Contains(out, "master "+e.env.Bridge) {
			t.Errorf("%s is not on %s: %s", v, e.env.Bridge, out)
		}
	}
	r := e.run("", "exec", "neta", "ip", "addr", "show", "eth0")
	if r.Code != 0 || !strings.Contains(r.Stdout, "inet "+a.Net.Address+"/24") {
		t.Errorf("exec neta ip addr: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	r = e.run("", "exec", "neta", "ip", "route")
	if !strings.Contains(r.Stdout, "default via "+a.Net.Gateway) {
		t.Errorf("no default route via %s: %s", a.Net.Gateway, r.Stdout)
	}
	// By address, and by name both ways: netb came later and neta's
	// /etc/hosts was rewritten in place.
	for _, c := range []struct{ from, to string }{{"neta", b.Net.Address}, {"neta", "netb"}, {"netb", "neta"}} {
		r := e.run("", "exec", c.from, "ping", "-c", "1", "-W", "2", c.to)
		if r.Code != 0 {
			t.Errorf("%s: ping %s: %d %s %s", c.from, c.to, r.Code, r.Stdout, r.Stderr)
		}
	}
	r = e.run("", "exec", "neta", "cat", "/etc/hosts")
	if !strings.Contains(r.Stdout, b.Net.Address+"\tnetb") {
		t.Errorf("neta's /etc/hosts lacks netb:\n%s", r.Stdout)
	}
	// A third workload leaving takes its name out of the others' hosts.
	c := e.launchD("--name", "netc", e.rootfs, "sleep", "1000")
	e.rmf("netc")
	r = e.run("", "exec", "neta", "cat", "/etc/hosts")
	if strings.Contains(r.Stdout, "netc") || !strings.Contains(r.Stdout, "netb") {
		t.Errorf("after netc (%s) left, neta's /etc/hosts:\n%s", c.Net.Address, r.Stdout)
	}
	e.rmf("neta", "netb")
	// The last one out starts the bridge's tear-down in the background.
	gone := false
	for end := time.Now().Add(5 * time.Second); !gone && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		_, err := net.InterfaceByName(e.env.Bridge)
		gone = err != nil
	}
	if !gone {
		t.Errorf("bridge %s left 5 s after the last workload", e.env.Bridge)
	}
}

func TestNetNoHostLoopback(t *testing.T) {
	e, _ := newNetE2E(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "host-loopback-secret")
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	a := e.launchD("--name", "lo1", e.rootfs, "sleep", "1000")
	for _, target := range []string{a.Net.Gateway, "127.0.0.1"} {
		r := e.run("", "exec", "lo1", "nc", "-w", "2", target, fmt.Sprint(port))
		if strings.Contains(r.Stdout, "secret") {
			t.Errorf("workload reached the host's 127.0.0.1:%d via %s", port, target)
		}
	}
	for _, f := range []string{"/proc/sys/net/ipv4/conf/" + e.env.Bridge + "/route_localnet", "/proc/sys/net/ipv4/conf/all/route_localnet"} {
		if b, _ := os.ReadFile(f); strings.TrimSpace(string(b)) != "0" {
			t.Errorf("%s = %q, want 0", f, b)
		}
	}
	e.rmf("lo1")
}

func TestNetNATAndPublishedPort(t *testing.T) {
	e, _ := newNetE2E(t)
	requireDockerForwardDrop(t)
	o := newOutside(t)
	o.httpd(t, 8080)
	// Outbound: the connection arrives from the host's address on the
	// outside veth, masqueraded; the outside namespace has no route to
	// the bridge subnet.
	r := e.run("", "launch", "--rm", e.rootfs, "timeout", "5", "wget", "-q", "-O", "-", fmt.Sprintf("http://%s:8080/cgi-bin/peer", o.addr))
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "peer="+o.hostAddr {
		t.Errorf("workload to outside host: %d %q %s (want peer=%s)", r.Code, r.Stdout, r.Stderr, o.hostAddr)
	}
	// Inbound: -p 18080:80 answers on the host's address, from the
	// outside namespace and from the host itself.
	www := t.TempDir()
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("hello from the workload\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.launchD("--name", "web", "-p", "18080:80", "-v", www+":/www:ro", e.rootfs, "httpd", "-f", "-p", "80", "-h", "/www")
	get := func(args ...string) (string, error) {
		var out []byte
		var err error
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if out, err = exec.Command(args[0], args[1:]...).CombinedOutput(); err == nil {
				break
			}
		}
		return string(out), err
	}
	url := fmt.Sprintf("http://%s:18080/", o.hostAddr)
	if out, err := get("ip", "netns", "exec", o.ns, "/bin/busybox", "timeout", "3", "/bin/busybox", "wget", "-q", "-O", "-", url); err != nil || !strings.Contains(out, "hello from the workload") {
		t.Errorf("outside host to %s: %v %s", url, err, out)
	}
	if out, err := get("/bin/busybox", "timeout", "3", "/bin/busybox", "wget", "-q", "-O", "-", url); err != nil || !strings.Contains(out, "hello from the workload") {
		t.Errorf("host to %s: %v %s", url, err, out)
	}
	// Without -p the outside host cannot open a connection to a workload
	// (it would need a route; give it one and see the forward drop).
	testutil.Run(t, "ip", "-n", o.ns, "route", "add", e.env.Subnet, "via", o.hostAddr)
	web := e.get("web")
	if out, err := exec.Command("ip", "netns", "exec", o.ns, "/bin/busybox", "timeout", "2", "/bin/busybox", "wget", "-q", "-O", "-", "http://"+web.Net.Address+":80/").CombinedOutput(); err == nil {
		t.Errorf("outside host reached the workload's unpublished address directly: %s", out)
	}
	e.rmf("web")
}

func TestNetHostRestoredAfterKill9AndGC(t *testing.T) {
	e, _ := newNetE2E(t)
	keep := e.launchD("--name", "keep", "-p", "18081:80", e.rootfs, "sleep", "1000")
	cmd := exec.Command(e.bin, "launch", "--name", "victim", "-p", "18082:80", e.rootfs, "sleep", "1000")
	cmd.Env = e.env.Env()
	testutil.Start(t, cmd)
	var victim *launcher.State
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && victim == nil; time.Sleep(20 * time.Millisecond) {
		for _, st := range e.states() {
			if st.Name == "victim" && st.Status == launcher.StatusRunning {
				victim = st
			}
		}
	}
	if victim == nil {
		t.Fatal("victim never ran")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for end := time.Now().Add(5 * time.Second); victim.Alive() && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	// Its address and port rule are still recorded; gc releases them and
	// leaves keep's alone.
	ruleset := testutil.Run(t, "nft", "list", "table", "ip", "nsagent-"+e.env.Bridge)
	if !strings.Contains(ruleset, victim.ID) {
		t.Errorf("victim's port rule missing before gc:\n%s", ruleset)
	}
	r := e.run("", "gc")
	if r.Code != 0 || !strings.Contains(r.Stdout, victim.ID) {
		t.Errorf("gc: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	ruleset = testutil.Run(t, "nft", "list", "table", "ip", "nsagent-"+e.env.Bridge)
	if strings.Contains(ruleset, victim.ID) || !strings.Contains(ruleset, keep.ID) {
		t.Errorf("after gc want only keep's port rule:\n%s", ruleset)
	}
	if out, _ := ipLinkShow(victim.Net.HostVeth); !strings.Contains(out, "does not exist") {
		t.Errorf("victim's veth left: %s", out)
	}
	// Now kill -9 the last one's monitor too: gc takes the bridge down.
	if err := syscall.Kill(keep.MonitorPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); (keep.Alive() || pidExists(keep.MonitorPid)) && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if r := e.run("", "gc"); r.Code != 0 {
		t.Errorf("gc: %d %s", r.Code, r.Stderr)
	}
}

func pidExists(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestNetConcurrentLaunches(t *testing.T) {
	e, _ := newNetE2E(t)
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := testutil.RunCmd(t, e.env.Env(), "", e.bin, "launch", "-d", "--name", fmt.Sprintf("c%02d", i), e.rootfs, "sleep", "1000")
			if r.Code != 0 {
				errs <- fmt.Sprintf("launch %d: %d %s", i, r.Code, r.Stderr)
				return
			}
			ids[i] = strings.TrimSpace(r.Stdout)
		}()
	}
	wg.Wait()
	close(errs)
	for m := range errs {
		t.Error(m)
	}
	seen := map[string]string{}
	for _, st := range e.ps() {
		if st.Net == nil || st.Net.Address == "" {
			t.Errorf("%s has no address", st.Name)
			continue
		}
		if o, dup := seen[st.Net.Address]; dup {
			t.Errorf("%s and %s both have %s", o, st.Name, st.Net.Address)
		}
		seen[st.Net.Address] = st.Name
		// The address is really on the workload's eth0.
		r := e.run("", "exec", st.Name, "ip", "-o", "-4", "addr", "show", "eth0")
		if !strings.Contains(r.Stdout, st.Net.Address+"/") {
			t.Errorf("%s: eth0 lacks %s: %s", st.Name, st.Net.Address, r.Stdout)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct addresses, want %d", len(seen), n)
	}
	var rm sync.WaitGroup
	for _, id := range ids {
		if id == "" {
			continue
		}
		rm.Add(1)
		go func() {
			defer rm.Done()
			if r := testutil.RunCmd(t, e.env.Env(), "", e.bin, "rm", "-f", id); r.Code != 0 {
				t.Errorf("rm -f %s: %d %s", id, r.Code, r.Stderr)
			}
		}()
	}
	rm.Wait()
}

// TestNetPinnedNamespaceGC covers the one case where a workload's veth
// outlives it: its network namespace held open by something else (here an
// `ip netns attach` of its pid). The kernel then keeps the pair, on the
// bridge or, once the bridge has gone with the last workload, on none; gc
// deletes it either way, and leaves a link a user put on the bridge.
func TestNetPinnedNamespaceGC(t *testing.T) {
	e, _ := newNetE2E(t)
	e.launchD("--name", "keep", e.rootfs, "sleep", "1000")
	pinned := e.launchD("--name", "pinned", e.rootfs, "sleep", "1000")
	pin := "nsagent-test-pin-" + randHex(3)
	testutil.Run(t, "ip", "netns", "attach", pin, strconv.Itoa(pinned.Pid))
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", pin).Run() })
	// A link of the user's on the bridge, named like nothing of nsagent's
	// (nsusr: other tests' host snapshots leave it out).
	user := "nsusr" + randHex(3)
	testutil.Run(t, "ip", "link", "add", user, "type", "veth", "peer", "name", user+"p")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", user).Run() })
	testutil.Run(t, "ip", "link", "set", user, "master", e.env.Bridge)

	e.rmf("pinned")
	if out, err := ipLinkShow(pinned.Net.HostVeth); err != nil {
		t.Fatalf("the pinned namespace's veth is already gone (%s): nothing for gc to do", out)
	}
	if r := e.run("", "gc"); r.Code != 0 {
		t.Fatalf("gc: %d %s", r.Code, r.Stderr)
	}
	if out, _ := ipLinkShow(pinned.Net.HostVeth); !strings.Contains(out, "does not exist") {
		t.Errorf("gc left the pinned namespace's veth: %s", out)
	}
	if out, err := ipLinkShow(user); err != nil || !strings.Contains(out, "master "+e.env.Bridge) {
		t.Errorf("gc touched the user's link on the bridge: %v %s", err, out)
	}
	if r := e.run("", "exec", "keep", "true"); r.Code != 0 {
		t.Errorf("keep after gc: %d %s", r.Code, r.Stderr)
	}
	_ = exec.Command("ip", "link", "del", user).Run()
	_ = exec.Command("ip", "netns", "del", pin).Run()

	// Pinned again, and then the last workload leaves: the bridge goes,
	// the pinned veth stays on no bridge, and gc still finds it.
	pinned = e.launchD("--name", "pinned2", e.rootfs, "sleep", "1000")
	testutil.Run(t, "ip", "netns", "attach", pin, strconv.Itoa(pinned.Pid))
	e.rmf("pinned2", "keep")
	if out, err := ipLinkShow(pinned.Net.HostVeth); err != nil || strings.Contains(out, "master") {
		t.Fatalf("want the pinned veth on no bridge after the bridge went: %v %s", err, out)
	}
	// Another state directory's gc leaves it: it is not that store's.
	otherEnv := append(e.env.Env(), "NSAGENT_STATE_DIR="+t.TempDir(), "NSAGENT_CGROUP_PARENT="+e.env.CgroupParent+"-other")
	if r := testutil.RunCmd(t, otherEnv, "", e.bin, "gc"); r.Code != 0 {
		t.Fatalf("gc of another state directory: %d %s", r.Code, r.Stderr)
	}
	if out, err := ipLinkShow(pinned.Net.HostVeth); err != nil {
		t.Fatalf("another state directory's gc deleted the pinned veth: %s", out)
	}
	if r := e.run("", "gc"); r.Code != 0 {
		t.Fatalf("gc: %d %s", r.Code, r.Stderr)
	}
	if out, _ := ipLinkShow(pinned.Net.HostVeth); !strings.Contains(out, "does not exist") {
		t.Errorf("gc left the orphaned veth: %s", out)
	}
	_ = exec.Command("ip", "netns", "del", pin).Run()
}

// ipLinkShow is `ip link show NAME`: its output and whether it failed
// (for a link that does not exist).
func ipLinkShow(name string) (string, error) {
	out, err := exec.Command("ip", "link", "show", name).CombinedOutput()
	return string(out), err
}

func TestNetNamedNamespace(t *testing.T) {
	e, _ := newNetE2E(t)
	name := "nsagent-test-named-" + randHex(3)
	testutil.Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	// (no dummy driver on every kernel: a veth pair inside it will do)
	testutil.Run(t, "ip", "-n", name, "link", "add", "dummy7", "type", "veth", "peer", "name", "dummy8")
	testutil.Run(t, "ip", "-n", name, "addr", "add", "192.0.2.77/32", "dev", "dummy7")
	r := e.run("", "launch", "--rm", "--net", "ns:"+name, e.rootfs, "sh", "-c", "ip -o addr; ls /sys/class/net")
	if r.Code != 0 || !strings.Contains(r.Stdout, "192.0.2.77") || !strings.Contains(r.Stdout, "dummy7") {
		t.Errorf("--net ns:%s: %d %s %s", name, r.Code, r.Stdout, r.Stderr)
	}
	// The namespace is left as it was.
	if out := testutil.Run(t, "ip", "-n", name, "-o", "addr"); !strings.Contains(out, "192.0.2.77") {
		t.Errorf("named namespace changed: %s", out)
	}
}

func TestNetBadInput(t *testing.T) {
	e, _ := newNetE2E(t)
	// Exhaust a /30 (one workload address) with a first workload.
	small := strings.Replace(e.env.Subnet, "/24", "/30", 1)
	first := e.launchD("--name", "only", "--subnet", small, e.rootfs, "sleep", "1000")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"port out of range", []string{"-p", "99999:80"}, `invalid port "99999:80"`},
		{"port without colon", []string{"-p", "8080"}, `invalid port "8080"`},
		{"bad protocol", []string{"-p", "8080:80/sctp"}, `protocol "sctp"`},
		{"port with --net none", []string{"--net", "none", "-p", "8080:80"}, "-p publishes ports of the bridge network"},
		{"overlapping subnet", []string{"--bridge", "nsatov" + randHex(2), "--subnet", "172.17.0.0/16"}, "overlaps 172.17.0.0/16 dev docker0"},
		{"bad subnet", []string{"--subnet", "10.1.2.3/24"}, "host bits set"},
		{"exhausted pool", []string{"--subnet", small}, "address pool exhausted"},
		{"missing named netns", []string{"--net", "ns:nsagent-test-missing-" + randHex(2)}, "not found"},
		{"unknown network", []string{"--net", "bogus"}, `unknown network "bogus"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.run("", append(append([]string{"launch", "--rm"}, c.args...), e.rootfs, "true")...)
			if r.Code != launcher.ExitLaunchError || !strings.Contains(r.Stderr, c.want) {
				t.Errorf("want 125 and %q, got %d: %s", c.want, r.Code, r.Stderr)
			}
			if lines := strings.Count(strings.TrimSpace(r.Stderr), "\n"); lines > 0 {
				t.Errorf("want a one-line message:\n%s", r.Stderr)
			}
		})
	}
	if len(e.states()) != 1 {
		t.Errorf("failed launches left state: %d entries", len(e.states()))
	}
	// The first workload is untouched and still reachable on its bridge.
	r := e.run("", "exec", "only", "ping", "-c", "1", "-W", "2", first.Net.Gateway)
	if r.Code != 0 {
		t.Errorf("first workload lost its network: %d %s", r.Code, r.Stderr)
	}
	e.rmf("only")
}

// TestNetInventoryListsInterfaces launches a workload on the bridge and
// requires `nsagent lsns -o +IFACES` to list its network namespace with
// eth0 and the address the launcher gave it, and `exec ip addr` to show
// the same interface from inside.
func TestNetInventoryListsInterfaces(t *testing.T) {
	e, _ := newNetE2E(t)
	st := e.launchD("--name", "ifaces", e.rootfs, "sleep", "1000")
	if st.Net == nil || st.Net.Address == "" {
		t.Fatalf("no address recorded: %+v", st.Net)
	}
	addr := strings.Split(st.Net.Address, "/")[0]
	r := e.run("", "exec", "ifaces", "ip", "-o", "addr", "show", "eth0")
	if r.Code != 0 || !strings.Contains(r.Stdout, addr) {
		t.Errorf("exec ip addr: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	ino := readNSInode(t, st.Pid, "net")
	r = e.run("", "lsns", "-J", "-l", "-t", "net", "-o", "NS,PID,IFACES")
	if r.Code != 0 {
		t.Fatalf("lsns: %d %s", r.Code, r.Stderr)
	}
	got, ok := parseLsnsIfaces(t, r.Stdout)[ino]
	if !ok {
		t.Fatalf("workload netns %d not listed:\n%s", ino, r.Stdout)
	}
	if !strings.Contains(got, "eth0="+addr+"/") || !strings.Contains(got, "lo=127.0.0.1/8") {
		t.Errorf("netns %d interfaces %q, want eth0=%s/… and lo=127.0.0.1/8", ino, got, addr)
	}
	if r := e.run("", "rm", "-f", "ifaces"); r.Code != 0 {
		t.Fatalf("rm: %d %s", r.Code, r.Stderr)
	}
}

// parseLsnsIfaces maps namespace inode to the IFACES column of an
// `lsns -J -o NS,...,IFACES` document.
func parseLsnsIfaces(t *testing.T, doc string) map[uint64]string {
	t.Helper()
	var d struct {
		Namespaces []struct {
			NS     uint64 `json:"ns"`
			Ifaces string `json:"ifaces"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("lsns json: %v", err)
	}
	m := make(map[uint64]string)
	for _, n := range d.Namespaces {
		m[n.NS] = n.Ifaces
	}
	return m
}

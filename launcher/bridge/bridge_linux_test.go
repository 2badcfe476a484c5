package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/nsagent/nsagent/internal/testutil"
)

// testBridge is a bridge name and subnet of the test's own.
func testBridge(t *testing.T) (string, netip.Prefix) {
	t.Helper()
	testutil.RequireRoot(t)
	for _, c := range []string{"ip", "nft", "iptables-save"} {
		testutil.RequireCommand(t, c)
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	br := "nsbt" + hex.EncodeToString(b)
	// Runs last: a test that stopped half-way (t.Fatal after Join) must
	// not leave its bridge and table on the host.
	t.Cleanup(func() {
		_ = deleteLink(br)
		if c, err := nftables.New(); err == nil {
			_ = deleteTable(c, br)
			_ = c.Flush()
			if removeDockerUser(c, br) == nil {
				_ = c.Flush()
			}
		}
	})
	return br, netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 200+int(b[0])%50, b[1]))
}

// assertRestored checks that the host's network is as in before and that
// the store records no bridge.
func assertRestored(t *testing.T, s Store, br string, before testutil.HostNet) {
	t.Helper()
	if d := before.Diff(testutil.SnapshotHostNet(t, br)); d != "" {
		t.Errorf("host changed:\n%s", d)
	}
	if l, _ := s.Bridges(); len(l) != 0 {
		t.Errorf("records left: %v", l)
	}
}

func TestJoinLeaveRestoresHost(t *testing.T) {
	br, subnet := testBridge(t)
	before := testutil.SnapshotHostNet(t, br)
	s := Store{Dir: t.TempDir()}
	t0 := time.Now()
	a, err := s.Join(br, subnet, Allocation{ID: "a", Name: "a", Veth: "nsvta" + br[4:]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cold := time.Since(t0)
	t0 = time.Now()
	b, err := s.Join(br, subnet, Allocation{ID: "b", Name: "b", Veth: "nsvtb" + br[4:]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	warm := time.Since(t0)
	if a.Addr.String() != subnet.Addr().Next().Next().String() || b.Addr != a.Addr.Next() {
		t.Errorf("addresses %s %s, want the first two after the gateway of %s", a.Addr, b.Addr, subnet)
	}
	// The snapshot sees what a Join adds (else the final comparison would
	// prove nothing).
	during := before.Diff(testutil.SnapshotHostNet(t, br))
	for _, want := range []string{`"ifname":"` + br + `"`, `"name":"` + TableName(br) + `"`, "nsagent:" + br} {
		if !strings.Contains(during, want) {
			t.Errorf("snapshot diff while joined lacks %s:\n%s", want, during)
		}
	}
	ifc, err := net.InterfaceByName(br)
	if err != nil {
		t.Fatalf("bridge %s: %v", br, err)
	}
	addrs, _ := ifc.Addrs()
	if len(addrs) == 0 || !strings.HasPrefix(addrs[0].String(), subnet.Addr().Next().String()+"/24") {
		t.Errorf("bridge addresses %v, want the gateway", addrs)
	}
	rules := testutil.Run(t, "nft", "list", "table", "ip", TableName(br))
	for _, want := range []string{
		fmt.Sprintf("ip saddr %s oifname != \"%s\"", subnet, br), "masquerade",
		"ct state established,related", "ct status dnat", "drop",
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("table lacks %q:\n%s", want, rules)
		}
	}
	if out, err := exec.Command("iptables", "-S", "DOCKER-USER").Output(); err == nil {
		for _, want := range []string{"-A DOCKER-USER -i " + br, "-A DOCKER-USER -o " + br} {
			if !strings.Contains(string(out), want) {
				t.Errorf("DOCKER-USER lacks %q:\n%s", want, out)
			}
		}
	}
	t0 = time.Now()
	if idle, err := s.Leave(br, "a", nil); err != nil || idle {
		t.Fatalf("leave a: idle %v, %v; want the bridge in use by b", idle, err)
	}
	warmLeave := time.Since(t0)
	if _, err := net.InterfaceByName(br); err != nil {
		t.Errorf("bridge gone while b uses it: %v", err)
	}
	// The last one leaves the bridge idle: still there until TearDownIdle,
	// and a workload that comes meanwhile keeps it.
	if idle, err := s.Leave(br, "b", nil); err != nil || !idle {
		t.Fatalf("leave b: idle %v, %v; want idle", idle, err)
	}
	if _, err := net.InterfaceByName(br); err != nil {
		t.Errorf("idle bridge gone before TearDownIdle: %v", err)
	}
	c, err := s.Join(br, subnet, Allocation{ID: "c", Name: "c", Veth: "nsvtc" + br[4:]}, nil)
	if err != nil || c.Addr != b.Addr.Next() {
		t.Fatalf("join an idle bridge: %v %v, want the next address %s", c.Addr, err, b.Addr.Next())
	}
	if err := s.TearDownIdle(br); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(br); err != nil {
		t.Errorf("TearDownIdle removed a bridge in use again: %v", err)
	}
	if idle, err := s.Leave(br, "c", nil); err != nil || !idle {
		t.Fatalf("leave c: idle %v, %v; want idle", idle, err)
	}
	t0 = time.Now()
	if err := s.TearDownIdle(br); err != nil {
		t.Fatal(err)
	}
	coldLeave := time.Since(t0)
	if idle, err := s.Leave(br, "c", nil); err != nil || idle {
		t.Errorf("second leave: idle %v, %v", idle, err)
	}
	if err := s.TearDownIdle(br); err != nil {
		t.Errorf("second tear-down: %v", err)
	}
	t.Logf("join: first %v, second %v; leave: not last %v; tear-down %v", cold, warm, warmLeave, coldLeave)
	assertRestored(t, s, br, before)
}

func TestJoinConcurrentDistinct(t *testing.T) {
	br, subnet := testBridge(t)
	before := testutil.SnapshotHostNet(t, br)
	s := Store{Dir: t.TempDir()}
	const n = 20
	got := make([]netip.Addr, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("w%02d", i)
			a, err := s.Join(br, subnet, Allocation{ID: id, Name: id, Veth: "nsvt" + id + br[4:]}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = a.Addr
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for _, a := range got {
		if seen[a] {
			t.Errorf("address %s handed out twice", a)
		}
		seen[a] = true
	}
	r, err := s.Load(br)
	if err != nil || r == nil || len(r.Allocs) != n {
		t.Fatalf("record: %v %+v", err, r)
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Leave(br, fmt.Sprintf("w%02d", i), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.TearDownIdle(br); err != nil {
		t.Fatal(err)
	}
	if d := before.Diff(testutil.SnapshotHostNet(t, br)); d != "" {
		t.Errorf("host changed:\n%s", d)
	}
}

func TestJoinRefusesOverlapAndLeavesNothing(t *testing.T) {
	br, _ := testBridge(t)
	before := testutil.SnapshotHostNet(t, br)
	s := Store{Dir: t.TempDir()}
	// The host's default route's own subnet: every host has a connected
	// route; take the first non-default one.
	out := testutil.Run(t, "ip", "-4", "route", "show", "scope", "link")
	f := strings.Fields(out)
	if len(f) == 0 {
		t.Skip("no connected route")
	}
	p := netip.MustParsePrefix(f[0])
	_, err := s.Join(br, p, Allocation{ID: "x", Veth: "nsvtx" + br[4:]}, nil)
	if err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Errorf("join on %s: %v, want an overlap error", p, err)
	}
	assertRestored(t, s, br, before)
}

// TestGCRemovesIdleBridge: a bridge left idle whose background tear-down
// never ran (the process was killed) is removed by gc.
func TestGCRemovesIdleBridge(t *testing.T) {
	br, subnet := testBridge(t)
	before := testutil.SnapshotHostNet(t, br)
	s := Store{Dir: t.TempDir()}
	if _, err := s.Join(br, subnet, Allocation{ID: "a", Name: "a", Veth: "nsvta" + br[4:]}, nil); err != nil {
		t.Fatal(err)
	}
	if idle, err := s.Leave(br, "a", nil); err != nil || !idle {
		t.Fatalf("leave: idle %v, %v", idle, err)
	}
	if _, err := net.InterfaceByName(br); err != nil {
		t.Fatalf("idle bridge gone before gc: %v", err)
	}
	if _, err := s.GC(func(string) bool { return true }, nil); err != nil {
		t.Fatal(err)
	}
	assertRestored(t, s, br, before)
}

// TestGCLeftoverVethIsStoreScoped: a workload's veth that outlived its
// bridge (its namespace held by something else) is on no bridge; only the
// gc of the store it left is allowed to delete it, not another state
// directory's.
func TestGCLeftoverVethIsStoreScoped(t *testing.T) {
	br, subnet := testBridge(t)
	before := testutil.SnapshotHostNet(t, br)
	s := Store{Dir: t.TempDir()}
	other := Store{Dir: t.TempDir()}
	veth := "nsv" + br[4:] + "0000cafe" // named like a workload's
	if !isWorkloadVeth(veth) {
		t.Fatalf("%s is not named like a workload veth", veth)
	}
	if _, err := s.Join(br, subnet, Allocation{ID: "a", Name: "a", Veth: veth}, nil); err != nil {
		t.Fatal(err)
	}
	// The bridge goes even if the test stops half-way.
	t.Cleanup(func() { _, _ = s.GC(func(string) bool { return false }, nil) })
	// Stands for the pair Attach makes, whose other end a namespace
	// that outlives the workload keeps.
	testutil.Run(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", "nsusr"+br[4:]+"p")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", veth).Run() })
	testutil.Run(t, "ip", "link", "set", veth, "master", br)
	if idle, err := s.Leave(br, "a", nil); err != nil || !idle {
		t.Fatalf("leave: idle %v, %v", idle, err)
	}
	if err := s.TearDownIdle(br); err != nil {
		t.Fatal(err)
	}
	if out := testutil.Run(t, "ip", "link", "show", veth); strings.Contains(out, "master") {
		t.Fatalf("want %s on no bridge after its bridge went: %s", veth, out)
	}
	if d, err := s.departed(); err != nil || !d[veth] {
		t.Fatalf("departed list %v (%v) lacks the veth still there", d, err)
	}
	if _, err := other.GC(func(string) bool { return false }, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(veth); err != nil {
		t.Fatalf("another store's gc deleted %s: %v", veth, err)
	}
	if _, err := s.GC(func(string) bool { return false }, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := net.InterfaceByName(veth); err == nil {
		t.Errorf("gc left %s", veth)
	}
	if d, err := s.departed(); err != nil || len(d) != 0 {
		t.Errorf("departed list after gc: %v %v", d, err)
	}
	if d := before.Diff(testutil.SnapshotHostNet(t, br)); d != "" {
		t.Errorf("host changed:\n%s", d)
	}
}

// TestDepartedListPruned: the list of departed veths does not grow for
// ever on a bridge that never goes idle.
func TestDepartedListPruned(t *testing.T) {
	br, subnet := testBridge(t)
	s := Store{Dir: t.TempDir()}
	if _, err := s.Join(br, subnet, Allocation{ID: "keep", Name: "keep", Veth: "nsvkeep" + br[4:] + "00"}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.GC(func(string) bool { return false }, nil) })
	for i := range 400 { // 16 bytes a name: past departedPruneSize
		id := fmt.Sprintf("w%d", i)
		if _, err := s.Join(br, subnet, Allocation{ID: id, Name: id, Veth: fmt.Sprintf("nsv%012x", i)}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Leave(br, id, nil); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(filepath.Join(s.Dir, departedName)); err == nil && st.Size() > departedPruneSize+64 {
			t.Fatalf("departed list is %d bytes after %d leaves", st.Size(), i+1)
		}
	}
}

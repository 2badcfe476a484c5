package inventory

import (
	"slices"
	"testing"
)

// listCache is a ProcessCache that reuses nothing and vouches for a fixed
// list of pids.
type listCache struct {
	pids      []int
	mayBeGone map[int]struct{}
	ok        bool
}

func (c *listCache) Unchanged(int) *Process                { return nil }
func (c *listCache) Match(int, uint64, string) *Process    { return nil }
func (c *listCache) PIDs() ([]int, map[int]struct{}, bool) { return c.pids, c.mayBeGone, c.ok }

// TestScanPIDSource: a cache that vouches for the processes is believed
// instead of the procfs root's listing: exactly its pids are read, and a
// pid it says may be gone is not counted as vanished when it is; one it
// does not vouch for is. A cache that cannot vouch leaves the listing to
// the Scanner.
func TestScanPIDSource(t *testing.T) {
	pidsOf := func(s *Snapshot) []int {
		var out []int
		for _, p := range s.Processes {
			out = append(out, p.PID)
		}
		return out
	}
	scan := func(c ProcessCache) *Snapshot { t.Helper(); return scanFixtureWith(t, "v1", c) }

	all := pidsOf(scan(&listCache{}))
	if len(all) != 10 {
		t.Fatalf("listing the fixture: %v, want its 10 processes", all)
	}
	// 999 does not exist: gone since the last scan, not vanished mid-scan.
	snap := scan(&listCache{pids: []int{1, 200, 999}, mayBeGone: map[int]struct{}{999: {}}, ok: true})
	if got := pidsOf(snap); !slices.Equal(got, []int{1, 200}) {
		t.Errorf("vouched-for pids 1, 200, 999: scanned %v, want [1 200]", got)
	}
	if snap.Stats.Vanished != 0 {
		t.Errorf("a pid that may be gone counted as vanished: %d", snap.Stats.Vanished)
	}
	snap = scan(&listCache{pids: []int{1, 998}, ok: true})
	if snap.Stats.Vanished != 1 {
		t.Errorf("a vouched-for pid missing: vanished %d, want 1", snap.Stats.Vanished)
	}
	if got := pidsOf(scan(&listCache{pids: []int{1}, ok: false})); !slices.Equal(got, all) {
		t.Errorf("a cache that cannot vouch: scanned %v, want the listing %v", got, all)
	}
}

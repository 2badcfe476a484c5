package agent

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nsagent/nsagent/inventory"
)

// procCache is the agent's inventory.ProcessCache: the processes of the
// last scan by pid, and the pids the proc connector saw change since.
type procCache struct {
	// procs is replaced (never modified) at the end of each scan, so the
	// scan's workers read it without locks.
	procs map[int]*inventory.Process
	ns    map[inventory.NSKey]*inventory.Namespace

	// mounts are the nsfs mounts read per mount namespace, with when.
	mounts       map[uint64]mountEntry
	mountsMaxAge time.Duration
	now          func() time.Time
	scanStart    time.Time
	mountsSeen   map[uint64]bool // mount namespaces of the scan in progress

	// Per scan, set by begin before the workers start.
	full      bool
	useEvents bool
	taken     map[int]struct{} // pids dirtied before this scan began
	reused    atomic.Int64

	evMu    sync.Mutex
	dirty   map[int]struct{} // pids dirtied since the scan in progress began
	lostGen uint64           // bumped when the connector lost events
	armed   bool             // the connector was up when the last scan began
	armGen  uint64           // lostGen when the last scan began

	reusedTotal, readTotal atomic.Uint64

	// cgroupRefs interns processes' cgroup memberships: the thousands of
	// processes of a service or a load share a handful of them, and on a
	// hybrid host each is ten hierarchies' worth of slices and strings
	// (about 1 KiB a process, most of the agent's heap at 10,000).
	cgroupRefs map[string][]inventory.CgroupRef
	interned   map[*inventory.CgroupRef]bool
}

// mountEntry is one mount namespace's nsfs mounts as last read.
type mountEntry struct {
	mounts []inventory.NSFSMount
	at     time.Time
}

func newProcCache(mountsMaxAge time.Duration, now func() time.Time) *procCache {
	return &procCache{dirty: make(map[int]struct{}), mounts: map[uint64]mountEntry{}, mountsMaxAge: mountsMaxAge, now: now}
}

// markDirty records that pid forked, exec'd, exited or changed identity.
func (c *procCache) markDirty(pid int) {
	c.evMu.Lock()
	c.dirty[pid] = struct{}{}
	c.evMu.Unlock()
}

// lost records that events were dropped: nothing seen since can be
// trusted until a scan starts afresh.
func (c *procCache) lost() {
	c.evMu.Lock()
	c.lostGen++
	c.evMu.Unlock()
}

// begin prepares the cache for a scan. Events can stand in for reading a
// process only if the connector has listened, losing nothing, since before
// the previous scan began reading.
func (c *procCache) begin(full bool, ev *procEvents) {
	c.evMu.Lock()
	c.taken, c.dirty = c.dirty, make(map[int]struct{})
	up := ev != nil && ev.up.Load()
	c.useEvents = up && c.armed && c.armGen == c.lostGen
	c.armed, c.armGen = up, c.lostGen
	c.evMu.Unlock()
	c.full = full || c.procs == nil
	c.reused.Store(0)
	c.scanStart = c.now()
	c.mountsSeen = map[uint64]bool{}
}

// end stores the processes of a finished scan and returns how many were
// reused and read.
func (c *procCache) end(snap *inventory.Snapshot) (reused, read int) {
	if snap == nil {
		return 0, 0
	}
	m := make(map[int]*inventory.Process, len(snap.Processes))
	for _, p := range snap.Processes {
		m[p.PID] = p
		c.intern(p)
	}
	c.procs = m
	ns := make(map[inventory.NSKey]*inventory.Namespace, len(snap.Namespaces))
	for _, n := range snap.Namespaces {
		ns[inventory.NSKey{Type: n.Type, Inode: n.Inode}] = n
	}
	c.ns = ns
	for ino := range c.mounts { // forget mount namespaces that are gone
		if !c.mountsSeen[ino] {
			delete(c.mounts, ino)
		}
	}
	reused = int(c.reused.Load())
	read = len(snap.Processes) - reused
	c.reusedTotal.Add(uint64(reused))
	c.readTotal.Add(uint64(read))
	return reused, read
}

// PIDs implements inventory.PIDSource: with the proc connector vouching
// for the time since the last scan, the processes are that scan's plus
// those an event named since (new, exec'd, exited). A zombie's reaping
// sends no event, so zombies are read again until they are gone.
func (c *procCache) PIDs() ([]int, map[int]struct{}, bool) {
	if c.full || !c.useEvents {
		return nil, nil, false
	}
	pids := make([]int, 0, len(c.procs)+len(c.taken))
	changed := make(map[int]struct{}, len(c.taken))
	for pid, p := range c.procs {
		if p.State == "Z" {
			changed[pid] = struct{}{}
		}
		if _, ok := c.taken[pid]; !ok {
			pids = append(pids, pid)
		}
	}
	for pid := range c.taken {
		pids = append(pids, pid)
		changed[pid] = struct{}{}
	}
	slices.Sort(pids)
	return pids, changed, true
}

// Unchanged implements inventory.ProcessCache.
func (c *procCache) Unchanged(pid int) *inventory.Process {
	if c.full || !c.useEvents {
		return nil
	}
	if _, ok := c.taken[pid]; ok {
		return nil
	}
	c.evMu.Lock()
	_, ok := c.dirty[pid]
	c.evMu.Unlock()
	if ok {
		return nil
	}
	p := c.procs[pid]
	if p == nil || p.State == "Z" { // reaped without an event: read it
		return nil
	}
	c.reused.Add(1)
	return p
}

// Match implements inventory.ProcessCache.
func (c *procCache) Match(pid int, startTicks uint64, comm string) *inventory.Process {
	if c.full {
		return nil
	}
	if _, ok := c.taken[pid]; ok {
		return nil // exec'd: same pid and start, new program, maybe new namespaces
	}
	p := c.procs[pid]
	if p == nil || p.StartTicks != startTicks || p.Comm != comm {
		return nil
	}
	c.reused.Add(1)
	return p
}

// Namespace implements inventory.NamespaceCache: relations are kept for
// the namespaces of the last scan, except on a full scan.
func (c *procCache) Namespace(k inventory.NSKey) *inventory.Namespace {
	if c.full {
		return nil
	}
	return c.ns[k]
}

// NSFSMounts implements inventory.NamespaceCache: a mount namespace's
// nsfs mounts are re-read when older than mountsMaxAge, or on a full scan.
func (c *procCache) NSFSMounts(ino uint64) ([]inventory.NSFSMount, bool) {
	c.mountsSeen[ino] = true
	e, ok := c.mounts[ino]
	if c.full || !ok || c.scanStart.Sub(e.at) >= c.mountsMaxAge {
		return nil, false
	}
	return e.mounts, true
}

// StoreNSFSMounts implements inventory.NamespaceCache.
func (c *procCache) StoreNSFSMounts(ino uint64, m []inventory.NSFSMount) {
	c.mounts[ino] = mountEntry{mounts: m, at: c.scanStart}
}

// intern makes p share its cgroup memberships with other processes that
// have the same. Only end calls it, before the snapshot is published.
func (c *procCache) intern(p *inventory.Process) {
	if len(p.Cgroups) == 0 || c.interned[&p.Cgroups[0]] {
		return
	}
	if c.cgroupRefs == nil || len(c.cgroupRefs) > 4096 {
		// Start over now and then so memberships of cgroups long gone
		// are not kept.
		c.cgroupRefs = map[string][]inventory.CgroupRef{}
		c.interned = map[*inventory.CgroupRef]bool{}
	}
	var b strings.Builder
	for _, r := range p.Cgroups {
		b.WriteString(strconv.Itoa(r.HierarchyID))
		b.WriteByte(':')
		b.WriteString(strings.Join(r.Controllers, ","))
		b.WriteByte(':')
		b.WriteString(r.Path)
		b.WriteByte('\n')
	}
	key := b.String()
	if refs, ok := c.cgroupRefs[key]; ok {
		p.Cgroups = refs
		return
	}
	c.cgroupRefs[key] = p.Cgroups
	c.interned[&p.Cgroups[0]] = true
}

package agent

import (
	"sync"
	"sync/atomic"

	"github.com/nsagent/nsagent/inventory"
)

// procCache is the agent's inventory.ProcessCache: the processes of the
// last scan by pid, and the pids the proc connector saw change since.
type procCache struct {
	// procs is replaced (never modified) at the end of each scan, so the
	// scan's workers read it without locks.
	procs map[int]*inventory.Process

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
}

func newProcCache() *procCache {
	return &procCache{dirty: make(map[int]struct{})}
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
	}
	c.procs = m
	reused = int(c.reused.Load())
	read = len(snap.Processes) - reused
	c.reusedTotal.Add(uint64(reused))
	c.readTotal.Add(uint64(read))
	return reused, read
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
	if p != nil {
		c.reused.Add(1)
	}
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

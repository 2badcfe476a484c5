// Package agent owns the one scan that `nsagent serve` shares between its
// Prometheus collectors and its JSON API: concurrent scrapes wait for the
// same scan, a scan younger than a minimum interval is served again, and a
// new scan re-reads only the processes that changed since the last one.
//
// What changed is learnt from the kernel's proc connector (fork, exec and
// exit events over netlink, which needs CAP_NET_ADMIN in the host's network
// namespace) when it is available, and otherwise from each process's stat
// file (same pid, start time and comm: reuse). Namespaces joined with
// setns(2) and descriptors opened without an exec show in neither, so every
// full interval a scan re-reads every process.
//
// The package reads the host through inventory and containers only; it
// never writes to /proc, /sys or cgroupfs.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nsagent/nsagent/inventory"
	"github.com/nsagent/nsagent/inventory/containers"
)

// Options configures an Agent.
type Options struct {
	Paths inventory.Paths
	// Fields are the optional parts of each scan; zero means AllFields.
	Fields inventory.Fields
	// MinInterval is how long a scan is served again before a request
	// starts a new one (default 5s): Prometheus servers of an HA pair, the
	// web view and scripts then share one scan.
	MinInterval time.Duration
	// FullInterval is how often a scan re-reads every process whatever the
	// cache says (default 5m); negative disables reuse altogether.
	FullInterval time.Duration
	// MountsInterval is how long the nsfs mounts read in a mount
	// namespace are reused (default 60s): mount tables change without a
	// process event, and reading every namespace's mountinfo on every
	// scan was a sixth of a scrape's CPU. A namespace kept only by an
	// nsfs mount (ip netns add) shows, or goes, within this long.
	MountsInterval time.Duration
	// ProcEvents subscribes to the proc connector. Without it, or when the
	// kernel refuses (no CAP_NET_ADMIN, not the host's network namespace),
	// reuse falls back to comparing each process's stat.
	ProcEvents bool
	// Containers are the roots containers.Discover reads; zero values take
	// its defaults under Paths.Rootfs.
	Containers containers.Options
	Logger     *slog.Logger
	// Now is the clock (tests fix it); default time.Now.
	Now func() time.Time
}

// Scan is one shared scan: the host snapshot and what is derived from it
// once for every reader. Readers must not modify it.
type Scan struct {
	Snapshot *inventory.Snapshot
	// Containers is nil when discovery failed; ContainersErr says why.
	Containers    *containers.Result
	ContainersErr error
	// Full is true when every process was read from /proc.
	Full bool
	// Reused and Read count processes taken from the cache and read.
	Reused, Read int
}

// Stats are the agent's counters since it started, for its own collector.
type Stats struct {
	Scans       map[string]uint64 // by kind: "full", "incremental"
	ScanErrors  uint64
	Served      uint64 // requests answered by an existing scan
	Reused      uint64 // processes reused from the cache
	Read        uint64 // processes read from /proc
	LastScan    time.Duration
	LastScanAt  time.Time
	ProcEvents  uint64 // proc connector events received
	EventsLost  uint64 // times the connector overflowed (all processes re-read)
	ConnectorUp bool
}

// Agent runs shared, cached scans. It is safe for concurrent use.
type Agent struct {
	opts    Options
	scanner *inventory.Scanner
	cache   *procCache
	disc    *containers.Discoverer
	events  *procEvents // nil without the connector
	log     *slog.Logger

	mu       sync.Mutex
	last     *Scan
	lastAt   time.Time
	lastFull time.Time
	inflight *call

	discMu sync.Mutex // Discoverer is for one goroutine at a time

	scansFull, scansIncr, scanErrors, served atomic.Uint64
	lastDur                                  atomic.Int64
}

// call is a scan in progress that later requests wait for.
type call struct {
	done chan struct{}
	scan *Scan
	err  error
}

// ErrClosed is returned by Scan after Close.
var ErrClosed = errors.New("agent closed")

// New validates the roots and starts the proc connector if asked.
func New(opts Options) (*Agent, error) {
	if opts.MinInterval == 0 {
		opts.MinInterval = 5 * time.Second
	}
	if opts.FullInterval == 0 {
		opts.FullInterval = 5 * time.Minute
	}
	if opts.MountsInterval == 0 {
		opts.MountsInterval = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Agent{opts: opts, log: opts.Logger}
	a.cache = newProcCache(opts.MountsInterval, opts.Now)
	var cache inventory.ProcessCache
	if opts.FullInterval > 0 {
		cache = a.cache
	}
	sc, err := inventory.NewScanner(inventory.Options{Paths: opts.Paths, Fields: opts.Fields, Cache: cache})
	if err != nil {
		return nil, err
	}
	a.scanner = sc
	copts := opts.Containers
	if copts.Procfs == "" {
		copts.Procfs = sc.Paths().Procfs
	}
	if copts.Rootfs == "" {
		copts.Rootfs = sc.Paths().Rootfs
	}
	a.disc = containers.NewDiscoverer(copts)
	if opts.ProcEvents && cache != nil {
		ev, err := startProcEvents(a.cache, a.log)
		if err != nil {
			a.log.Info("proc connector unavailable; processes are revalidated from their stat files", "err", err)
		} else {
			a.events = ev
		}
	}
	return a, nil
}

// Paths returns the roots the agent reads.
func (a *Agent) Paths() inventory.Paths { return a.scanner.Paths() }

// Close stops the proc connector.
func (a *Agent) Close() error {
	if a.events != nil {
		return a.events.close()
	}
	return nil
}

// Scan returns a scan no older than MinInterval, starting one if needed;
// concurrent callers share it.
func (a *Agent) Scan(ctx context.Context) (*Scan, error) {
	a.mu.Lock()
	if a.last != nil && a.opts.Now().Sub(a.lastAt) < a.opts.MinInterval {
		s := a.last
		a.mu.Unlock()
		a.served.Add(1)
		return s, nil
	}
	c := a.inflight
	if c == nil {
		c = &call{done: make(chan struct{})}
		a.inflight = c
		go a.run(c)
	} else {
		a.served.Add(1)
	}
	a.mu.Unlock()
	select {
	case <-c.done:
		return c.scan, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run performs one scan for call c. It runs detached from the request
// that started it, so a scrape that times out does not waste the scan for
// the ones waiting on it.
func (a *Agent) run(c *call) {
	now := a.opts.Now()
	a.mu.Lock()
	full := a.lastFull.IsZero() || now.Sub(a.lastFull) >= a.opts.FullInterval
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a.cache.begin(full, a.events)
	start := time.Now()
	snap, err := a.scanner.Scan(ctx)
	reused, read := a.cache.end(snap)
	a.lastDur.Store(int64(time.Since(start)))
	var s *Scan
	if err == nil {
		s = &Scan{Snapshot: snap, Full: full, Reused: reused, Read: read}
		a.discMu.Lock()
		s.Containers, s.ContainersErr = a.disc.Discover(snap)
		a.discMu.Unlock()
		if full {
			a.scansFull.Add(1)
		} else {
			a.scansIncr.Add(1)
		}
	} else {
		a.scanErrors.Add(1)
		a.log.Warn("scan failed", "err", err)
	}

	a.mu.Lock()
	if err == nil {
		a.last, a.lastAt = s, a.opts.Now()
		if full {
			a.lastFull = now
		}
	}
	a.inflight = nil
	a.mu.Unlock()
	c.scan, c.err = s, err
	close(c.done)
}

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	st := Stats{
		Scans:      map[string]uint64{"full": a.scansFull.Load(), "incremental": a.scansIncr.Load()},
		ScanErrors: a.scanErrors.Load(),
		Served:     a.served.Load(),
		Reused:     a.cache.reusedTotal.Load(),
		Read:       a.cache.readTotal.Load(),
		LastScan:   time.Duration(a.lastDur.Load()),
	}
	a.mu.Lock()
	st.LastScanAt = a.lastAt
	a.mu.Unlock()
	if a.events != nil {
		st.ProcEvents, st.EventsLost = a.events.received.Load(), a.events.lost.Load()
		st.ConnectorUp = a.events.up.Load()
	}
	return st
}

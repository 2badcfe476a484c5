// Package collector turns the agent's shared scan into Prometheus metrics,
// in the manner of node_exporter: one collector per file, each registered
// in a table with an enable flag (--collector.<name>), each timed and
// reported on its own (nsagent_scrape_collector_duration_seconds,
// nsagent_scrape_collector_success), so one failing collector never fails
// the scrape.
//
// Collectors read the scan; none of them reads /proc itself, except the
// workloads collector which reads the launcher's state files. Labels are
// bounded: no pid, command line or per-CPU label, and a series budget per
// collector beyond which series are dropped and counted in
// nsagent_scrape_collector_series_dropped_total. No series carries an
// explicit timestamp. docs/metrics.md describes every metric.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nsagent/nsagent/agent"
	"github.com/prometheus/client_golang/prometheus"
)

// namespace is the prefix of every metric.
const namespace = "nsagent"

// Config is what collectors may be configured with.
type Config struct {
	// SeriesBudget is the most series one collector may emit per scrape
	// (default 10000).
	SeriesBudget int
	// CgroupDepth is how deep below the root the cgroups collector reports
	// cgroups that carry no container or workload (default 1).
	CgroupDepth int
	// StateDir is the launcher's state directory as the host names it
	// (default /run/nsagent); it is read under the agent's root.
	StateDir string
	// Rootfs is the host's / (default: the agent's --path.rootfs).
	Rootfs string
	// Timeout bounds the wait for the shared scan (default 30s).
	Timeout time.Duration
	Logger  *slog.Logger

	agent *agent.Agent // for the scan collector's counters
}

// ErrNoData is returned by a collector that had nothing to report because
// what it reads is absent (no cgroup tree in the scan, no state dir): it
// counts as success.
var ErrNoData = errors.New("collector returned no data")

// collector is one group of metrics computed from a scan.
type collector interface {
	update(s *agent.Scan, e *emitter) error
}

// factory makes a collector.
type factory struct {
	defaultEnabled bool
	help           string
	new            func(cfg Config) collector
}

// factories is the table of collectors, filled by each file's init.
var factories = map[string]factory{}

func register(name string, defaultEnabled bool, help string, f func(Config) collector) {
	if _, dup := factories[name]; dup {
		panic("collector registered twice: " + name)
	}
	factories[name] = factory{defaultEnabled: defaultEnabled, help: help, new: f}
}

// Info describes a collector for flags and the landing page.
type Info struct {
	Name           string
	DefaultEnabled bool
	Help           string
}

// Available lists the collectors, sorted by name.
func Available() []Info {
	out := make([]Info, 0, len(factories))
	for n, f := range factories {
		out = append(out, Info{n, f.defaultEnabled, f.help})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// UnknownError names a collector that does not exist.
type UnknownError struct{ Name string }

func (e UnknownError) Error() string { return fmt.Sprintf("unknown collector %q", e.Name) }

var (
	durationDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "scrape", "collector_duration_seconds"),
		"nsagent: duration of a collector scrape.", []string{"collector"}, nil)
	successDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "scrape", "collector_success"),
		"nsagent: whether a collector succeeded.", []string{"collector"}, nil)
	droppedDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "scrape", "collector_series_dropped_total"),
		"Series a collector did not emit because it reached its series budget (--collector.series-budget).", []string{"collector"}, nil)
)

// Nsagent is the prometheus.Collector that runs the enabled collectors on
// one shared scan per scrape.
type Nsagent struct {
	agent      *agent.Agent
	cfg        Config
	names      []string
	collectors map[string]collector

	mu      sync.Mutex
	dropped map[string]float64
}

// New returns a collector running the named collectors (all of them enabled
// by default if names is nil).
func New(a *agent.Agent, cfg Config, names []string) (*Nsagent, error) {
	if cfg.SeriesBudget <= 0 {
		cfg.SeriesBudget = 10000
	}
	if cfg.CgroupDepth <= 0 {
		cfg.CgroupDepth = 1
	}
	if cfg.StateDir == "" {
		cfg.StateDir = "/run/nsagent"
	}
	if cfg.Rootfs == "" {
		cfg.Rootfs = a.Paths().Rootfs
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.agent = a
	if names == nil {
		for n, f := range factories {
			if f.defaultEnabled {
				names = append(names, n)
			}
		}
	}
	n := &Nsagent{agent: a, cfg: cfg, collectors: map[string]collector{}, dropped: map[string]float64{}}
	for _, name := range names {
		f, ok := factories[name]
		if !ok {
			return nil, UnknownError{name}
		}
		n.collectors[name] = f.new(cfg)
		n.names = append(n.names, name)
		n.dropped[name] = 0
	}
	sort.Strings(n.names)
	return n, nil
}

// Names returns the enabled collectors.
func (n *Nsagent) Names() []string { return n.names }

// Describe sends the scrape meta descriptors only: the collectors' series
// depend on the host, so Nsagent is an unchecked collector like
// node_exporter's.
func (n *Nsagent) Describe(ch chan<- *prometheus.Desc) {
	ch <- durationDesc
	ch <- successDesc
	ch <- droppedDesc
}

// Collect takes the shared scan once and runs every collector on it in
// turn: after the scan, each is a walk over memory, and running them one
// after the other costs less CPU than goroutines would save in latency.
func (n *Nsagent) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	defer cancel()
	scan, scanErr := n.agent.Scan(ctx)
	for _, name := range n.names {
		start := time.Now()
		e := &emitter{ch: ch, budget: n.cfg.SeriesBudget}
		err := scanErr
		if err == nil {
			err = n.collectors[name].update(scan, e)
		}
		success := 1.0
		switch {
		case err == nil, errors.Is(err, ErrNoData):
			if err != nil {
				n.cfg.Logger.Debug("collector returned no data", "collector", name, "err", err)
			}
		default:
			success = 0
			n.cfg.Logger.Error("collector failed", "collector", name, "err", err)
		}
		n.mu.Lock()
		n.dropped[name] += float64(e.dropped)
		dropped := n.dropped[name]
		n.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, time.Since(start).Seconds(), name)
		ch <- prometheus.MustNewConstMetric(successDesc, prometheus.GaugeValue, success, name)
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, dropped, name)
	}
}

// emitter sends a collector's series, up to its budget.
type emitter struct {
	ch      chan<- prometheus.Metric
	budget  int
	sent    int
	dropped int
}

func (e *emitter) emit(desc *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	if e.sent >= e.budget {
		e.dropped++
		return
	}
	e.sent++
	e.ch <- prometheus.MustNewConstMetric(desc, t, v, labels...)
}

func (e *emitter) gauge(desc *prometheus.Desc, v float64, labels ...string) {
	e.emit(desc, prometheus.GaugeValue, v, labels...)
}

func (e *emitter) counter(desc *prometheus.Desc, v float64, labels ...string) {
	e.emit(desc, prometheus.CounterValue, v, labels...)
}

// desc is a shorthand for a descriptor under the nsagent prefix.
func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

package collector

import (
	"github.com/nsagent/nsagent/agent"
)

func init() {
	register("scan", true, "the agent's own shared scan: scans by kind, processes reused and read, the proc connector", newScan)
}

// scan reports the agent's own work, so its cost can be watched where it
// is paid.
type scan struct {
	agent *agent.Agent
}

var (
	scanTotalDesc    = desc("scan", "scans_total", "Scans run, by kind: full (every process read) or incremental (unchanged processes reused).", "kind")
	scanErrorsDesc   = desc("scan", "errors_total", "Scans that failed.")
	scanSharedDesc   = desc("scan", "shared_total", "Requests (scrapes, API calls) answered with a scan already made or in progress rather than a new one.")
	scanReusedDesc   = desc("scan", "processes_reused_total", "Processes taken from the cache instead of being read again.")
	scanReadDesc     = desc("scan", "processes_read_total", "Processes read from procfs.")
	scanDurDesc      = desc("scan", "duration_seconds", "Wall time of the last scan.")
	scanProcsDesc    = desc("scan", "processes", "Processes in the last scan.")
	scanVanishedDesc = desc("scan", "processes_vanished", "Processes that exited while the last scan read them.")
	scanInaccDesc    = desc("scan", "processes_inaccessible", "Processes whose namespaces the last scan could not read (permission denied).")
	connUpDesc       = desc("proc_connector", "up", "Whether the agent follows the kernel's proc connector (fork/exec/exit events) to know which processes changed.")
	connEventsDesc   = desc("proc_connector", "events_total", "Proc connector events received.")
	connLostDesc     = desc("proc_connector", "overflows_total", "Times the proc connector dropped events; each makes the next scan re-read every process.")
)

func newScan(cfg Config) collector { return &scan{agent: cfg.agent} }

func (c *scan) update(s *agent.Scan, e *emitter) error {
	st := c.agent.Stats()
	for _, kind := range []string{"full", "incremental"} {
		e.counter(scanTotalDesc, float64(st.Scans[kind]), kind)
	}
	e.counter(scanErrorsDesc, float64(st.ScanErrors))
	e.counter(scanSharedDesc, float64(st.Served))
	e.counter(scanReusedDesc, float64(st.Reused))
	e.counter(scanReadDesc, float64(st.Read))
	e.gauge(scanDurDesc, st.LastScan.Seconds())
	e.gauge(scanProcsDesc, float64(len(s.Snapshot.Processes)))
	e.gauge(scanVanishedDesc, float64(s.Snapshot.Stats.Vanished))
	e.gauge(scanInaccDesc, float64(s.Snapshot.Stats.Inaccessible))
	e.gauge(connUpDesc, boolValue(st.ConnectorUp))
	e.counter(connEventsDesc, float64(st.ProcEvents))
	e.counter(connLostDesc, float64(st.EventsLost))
	return nil
}

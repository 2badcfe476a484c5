package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// agentHealth is nsagent watching itself: whether each collector
// succeeds and how long it takes, how many series it sends and drops, how
// long Prometheus waits for a scrape, and what the agent costs in CPU
// and memory. up and scrape_* are the series Prometheus records for every
// target; everything else is nsagent's.
func agentHealth() *dashboard.DashboardBuilder {
	return base("nsagent-agent-health", "nsagent / Agent health",
		"nsagent serve itself: collector success and duration, series and drops, scrape latency, scan work, CPU and memory.").
		WithRow(dashboard.NewRowBuilder("Overview")).
		WithPanel(bigStat("Agents up", "Targets Prometheus scraped successfully on its last attempt.", "short",
			`sum(up{`+sel+`})`)).
		WithPanel(bigStat("Failing collectors", "Collectors whose last run failed, over all selected agents; a failing collector never fails the scrape, so this is where it shows.", "short",
			`sum(1 - nsagent_scrape_collector_success{`+sel+`})`)).
		WithPanel(bigStat("Slowest scrape", "Longest time Prometheus waited for a selected agent's /metrics.", "s",
			`max(scrape_duration_seconds{`+sel+`})`)).
		WithPanel(bigStat("Agent memory", "Resident memory of all selected agents.", "bytes",
			`sum(process_resident_memory_bytes{`+sel+`})`)).
		WithRow(dashboard.NewRowBuilder("Collectors")).
		WithPanel(ts("Collector duration", "nsagent_scrape_collector_duration_seconds: time each collector took on the last scrape.", "s", 12,
			q(`nsagent_scrape_collector_duration_seconds{`+sel+`}`, "{{collector}} ({{instance}})"))).
		WithPanel(ts("Collector success", "1 while every selected agent's collector succeeds; a dip below 1 is a failing agent.", "percentunit", 12,
			q(`min by (collector) (nsagent_scrape_collector_success{`+sel+`})`, "{{collector}}")).
			Min(0).Max(1)).
		WithPanel(failingCollectors()).
		WithRow(dashboard.NewRowBuilder("Series")).
		WithPanel(ts("Samples per scrape", "scrape_samples_scraped: what one scrape of each agent returns.", "short", 8,
			q(`scrape_samples_scraped{`+sel+`}`, "{{instance}}"))).
		WithPanel(ts("Series per metric (top 10)", "nsagent's largest metric families: what grows with the number of namespaces, cgroups and containers.", "short", 8,
			q(`topk(10, count by (__name__) ({__name__=~"nsagent_.+",`+sel+`}))`, "{{__name__}}"))).
		WithPanel(ts("Series dropped over the budget", "Series a collector did not emit because it exceeded --collector.series-budget, per second.", "short", 8,
			q(`sum by (collector) (rate(nsagent_scrape_collector_series_dropped_total{`+sel+`}[$__rate_interval]))`, "{{collector}}"))).
		WithRow(dashboard.NewRowBuilder("Scrapes and scans")).
		WithPanel(ts("Scrape latency", "scrape_duration_seconds: how long Prometheus waited for /metrics.", "s", 8,
			q(`scrape_duration_seconds{`+sel+`}`, "{{instance}}"))).
		WithPanel(ts("Scan duration", "Wall time of the agent's last scan of the host.", "s", 8,
			q(`nsagent_scan_duration_seconds{`+sel+`}`, "{{instance}}"))).
		WithPanel(ts("Scans and errors", "Scans per second by kind (full, incremental), and failed scans.", "ops", 8,
			q(`sum by (kind) (rate(nsagent_scan_scans_total{`+sel+`}[$__rate_interval]))`, "{{kind}}"),
			q(`sum(rate(nsagent_scan_errors_total{`+sel+`}[$__rate_interval]))`, "errors"))).
		WithPanel(ts("Processes read and reused", "Processes read from procfs and taken from the cache, per second: the incremental scan's saving.", "ops", 8,
			q(`sum(rate(nsagent_scan_processes_read_total{`+sel+`}[$__rate_interval]))`, "read"),
			q(`sum(rate(nsagent_scan_processes_reused_total{`+sel+`}[$__rate_interval]))`, "reused"),
			q(`sum(rate(nsagent_scan_shared_total{`+sel+`}[$__rate_interval]))`, "requests sharing a scan"))).
		WithPanel(ts("Proc connector", "1 while the agent follows the kernel's process events, their rate, and overflows (events lost; the next scan checks every process).", "short", 8,
			q(`nsagent_proc_connector_up{`+sel+`}`, "up ({{instance}})"),
			q(`rate(nsagent_proc_connector_events_total{`+sel+`}[$__rate_interval])`, "events/s ({{instance}})"),
			q(`increase(nsagent_proc_connector_overflows_total{`+sel+`}[$__rate_interval])`, "overflows ({{instance}})"))).
		WithPanel(ts("Processes vanished or inaccessible", "Processes that exited while being read, and those whose namespaces could not be read (permission): the latter should be 0 for an agent with the capabilities it needs.", "short", 8,
			q(`nsagent_scan_processes_vanished{`+sel+`}`, "vanished ({{instance}})"),
			q(`nsagent_scan_processes_inaccessible{`+sel+`}`, "inaccessible ({{instance}})"))).
		WithRow(dashboard.NewRowBuilder("Resources")).
		WithPanel(ts("Agent CPU", "CPU the agent process uses, in cores.", "short", 8,
			q(`rate(process_cpu_seconds_total{`+sel+`}[$__rate_interval])`, "{{instance}}"))).
		WithPanel(ts("Agent memory", "Resident memory of the agent process.", "bytes", 8,
			q(`process_resident_memory_bytes{`+sel+`}`, "{{instance}}"))).
		WithPanel(ts("Agent file descriptors", "Open descriptors against the limit.", "short", 8,
			q(`process_open_fds{`+sel+`}`, "open ({{instance}})"),
			q(`process_max_fds{`+sel+`}`, "limit ({{instance}})"))).
		WithPanel(buildInfo())
}

// failingCollectors lists each collector whose last run failed; empty
// while every collector succeeds.
func failingCollectors() *table.PanelBuilder {
	return newTable().
		Title("Failing collectors").
		Description("Each collector whose last run failed, and on which agent. Empty on a healthy fleet; the agent's log says why.").
		Datasource(ds).
		Height(6).
		Span(24).
		WithTarget(tq("A", `nsagent_scrape_collector_success{`+sel+`} == 0`)).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true, "__name__": true, "Value": true},
		}})
}

// buildInfo lists the version every selected agent runs.
func buildInfo() *table.PanelBuilder {
	return newTable().
		Title("Versions").
		Description("nsagent_build_info of every selected agent.").
		Datasource(ds).
		Height(6).
		Span(24).
		WithTarget(tq("A", `nsagent_build_info{`+sel+`}`)).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true, "__name__": true, "Value": true},
			"indexByName":   map[string]any{"instance": 0, "job": 1, "version": 2, "revision": 3, "goversion": 4},
		}})
}

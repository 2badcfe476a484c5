package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// named joins a per-container expression (labelled by id only, as nsagent
// exports it) with nsagent_container_info, which carries the name,
// runtime and image and is filtered by the container variable.
func named(expr string) string {
	return `(` + expr + `) * on (job, instance, id) group_left (name, runtime, image) nsagent_container_info{` + sel + `,name=~"$container"}`
}

// cm is a per-container metric with the common selector.
func cm(metric string) string { return metric + `{` + sel + `}` }

// rate is a per-second rate over Grafana's rate interval.
func rate(metric string) string { return `rate(` + cm(metric) + `[$__rate_interval])` }

// containers is the per-container view: memory against its limit, OOM
// kills, CPU and throttling, pids against the limit, and each container's
// security posture, with links into nsagent's web view.
func containers() *dashboard.DashboardBuilder {
	return base("nsagent-containers", "nsagent / Containers",
		"Every container and nsagent workload on each host: memory, OOM kills, CPU and throttling, pids, security posture.").
		WithVariable(queryVar("container", "Container", `label_values(nsagent_container_info{job=~"$job",instance=~"$instance"}, name)`)).
		WithRow(dashboard.NewRowBuilder("Overview")).
		WithPanel(bigStat("Running containers", "Containers of every runtime, nsagent's own workloads included.", "short",
			`count(nsagent_container_info{`+sel+`,name=~"$container"})`)).
		WithPanel(bigStat("OOM kills in range", "Processes the kernel killed for hitting a container's memory limit, over the dashboard's time range.", "short",
			`sum(`+named(`increase(`+cm("nsagent_container_memory_oom_kills_total")+`[$__range])`)+`)`)).
		WithPanel(bigStat("Privileged containers", "Containers the runtime marks privileged, or with every capability and no seccomp filter.", "short",
			`sum(`+named(cm("nsagent_container_privileged"))+`)`)).
		WithPanel(bigStat("Launcher workloads running", "Workloads started with nsagent launch.", "short",
			`sum(nsagent_workloads{`+sel+`,status="running"})`)).
		WithRow(dashboard.NewRowBuilder("Security posture")).
		WithPanel(postureTable()).
		WithRow(dashboard.NewRowBuilder("Memory")).
		WithPanel(limitLines(ts("Memory usage against limit", "Usage (memory.usage_in_bytes or memory.current) and working set (usage less inactive file, as cAdvisor counts it) against the limit, dashed. A container without a limit has no limit line.", "bytes", 12,
			q(named(cm("nsagent_container_memory_usage_bytes")), "{{name}} usage"),
			q(named(cm("nsagent_container_memory_working_set_bytes")), "{{name}} working set"),
			q(named(cm("nsagent_container_memory_limit_bytes")), "{{name}} limit")))).
		WithPanel(ts("Working set as a share of the limit", "What the kernel reclaims last, over the limit: near 100% the next allocation reclaims cache or kills.", "percentunit", 12,
			q(named(cm("nsagent_container_memory_working_set_bytes")+` / `+cm("nsagent_container_memory_limit_bytes")), "{{name}}")).
			Min(0).Max(1)).
		WithPanel(ts("OOM kills", "Kills by the kernel's OOM killer inside the container's cgroup (oom_kill of memory.oom_control or memory.events). Empty while nothing is killed.", "short", 24,
			q(named(`increase(`+cm("nsagent_container_memory_oom_kills_total")+`[$__rate_interval])`)+` > 0`, "{{name}}")).
			DrawStyle(common.GraphDrawStyleBars)).
		WithRow(dashboard.NewRowBuilder("CPU")).
		WithPanel(limitLines(ts("CPU usage against quota", "Cores used and the CFS quota (quota/period), dashed; a container without a quota has no quota line.", "short", 8,
			q(named(rate("nsagent_container_cpu_usage_seconds_total")), "{{name}} usage"),
			q(named(cm("nsagent_container_cpu_quota_cores")), "{{name}} limit")))).
		WithPanel(ts("Throttled periods", "Share of CFS periods in which the container ran out of quota.", "percentunit", 8,
			q(named(rate("nsagent_container_cpu_throttled_periods_total")+` / `+rate("nsagent_container_cpu_periods_total")), "{{name}}")).
			Min(0).Max(1)).
		WithPanel(ts("Throttled time", "Time the container's tasks were held back by the quota, per second.", "s", 8,
			q(named(rate("nsagent_container_cpu_throttled_seconds_total")), "{{name}}"))).
		WithRow(dashboard.NewRowBuilder("Pids")).
		WithPanel(limitLines(ts("Pids against limit", "pids.current and pids.max, dashed; at the limit fork fails with EAGAIN.", "short", 12,
			q(named(cm("nsagent_container_pids")), "{{name}} pids"),
			q(named(cm("nsagent_container_pids_max")), "{{name}} limit")))).
		WithPanel(ts("Processes per container", "Processes in the container's cgroup.", "short", 12,
			q(named(cm("nsagent_container_processes")), "{{name}}"))).
		WithRow(dashboard.NewRowBuilder("Runtimes")).
		WithPanel(stacked(ts("Containers by runtime", "Running containers by the runtime that started them.", "short", 8,
			q(`sum by (runtime) (nsagent_containers{`+sel+`})`, "{{runtime}}")))).
		WithPanel(ts("Launcher workloads by status", "nsagent launch workloads by recorded status; dead means recorded running with its init gone.", "short", 8,
			q(`sum by (status) (nsagent_workloads{`+sel+`})`, "{{status}}"))).
		WithPanel(ts("Runtime findings", "Orphaned shims, namespaces without a process, limits that differ from the runtime's record, stale runtime state.", "short", 8,
			q(`sum by (kind) (nsagent_runtime_findings{`+sel+`})`, "{{kind}}")))
}

// limitLines draws every series whose legend ends in "limit" as a dashed
// line without fill, so usage is read against it.
func limitLines(p *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return p.OverrideByRegexp(".* limit$", []dashboard.DynamicConfigValue{
		{Id: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []int{10, 10}}},
		{Id: "custom.fillOpacity", Value: 0},
	})
}

// postureTable is one row per container: identity, processes, start, and
// the security settings of its init (seccomp, no_new_privs, privileged,
// namespaces shared with the host). The name links to the container in
// nsagent's web view.
func postureTable() *table.PanelBuilder {
	queries := []struct{ ref, expr string }{
		{"A", `group by (job, instance, id, name, runtime, image) (nsagent_container_info{` + sel + `,name=~"$container"})`},
		{"B", named(cm("nsagent_container_processes"))},
		{"C", named(cm("nsagent_container_start_time_seconds") + ` * 1000`)},
		{"D", named(cm("nsagent_container_seccomp_mode"))},
		{"E", named(cm("nsagent_container_no_new_privs"))},
		{"F", named(cm("nsagent_container_privileged"))},
		{"G", named(cm("nsagent_container_host_namespaces"))},
	}
	p := newTable().
		Title("Containers and their security posture").
		Description("Seccomp mode, no_new_privs, privileged and the number of namespace types shared with the host, read from each container's init process. Click a name to open the container in nsagent's web view.").
		Datasource(ds).
		Height(9).
		Span(24).
		Filterable(true).
		SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("name")})
	for _, x := range queries {
		p.WithTarget(tq(x.ref, x.expr))
	}
	return p.
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}}).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true, "job": true, "Value #A": true},
			"indexByName": map[string]any{"instance": 0, "name": 1, "runtime": 2, "image": 3, "id": 4,
				"Value #B": 5, "Value #C": 6, "Value #D": 7, "Value #E": 8, "Value #F": 9, "Value #G": 10},
			"renameByName": map[string]any{"Value #B": "processes", "Value #C": "started", "Value #D": "seccomp",
				"Value #E": "no_new_privs", "Value #F": "privileged", "Value #G": "host namespaces"},
		}}).
		OverrideByName("name", []dashboard.DynamicConfigValue{
			webLink("Open ${__data.fields.name} in nsagent", "view=containers&container=${__data.fields.id}"),
		}).
		OverrideByName("started", []dashboard.DynamicConfigValue{{Id: "unit", Value: "dateTimeFromNow"}}).
		OverrideByName("seccomp", colouredText(map[string][2]string{
			"0": {"disabled", "red"}, "1": {"strict", "green"}, "2": {"filter", "green"}})).
		OverrideByName("no_new_privs", colouredText(map[string][2]string{
			"0": {"no", "orange"}, "1": {"yes", "green"}})).
		OverrideByName("privileged", colouredText(map[string][2]string{
			"0": {"no", "green"}, "1": {"yes", "red"}})).
		OverrideByName("host namespaces", []dashboard.DynamicConfigValue{
			{Id: "thresholds", Value: map[string]any{"mode": "absolute", "steps": []map[string]any{
				{"color": "green", "value": nil}, {"color": "orange", "value": 1}}}},
			{Id: "custom.cellOptions", Value: map[string]any{"type": "color-text"}},
		})
}

// colouredText shows a table column's values as coloured words.
func colouredText(m map[string][2]string) []dashboard.DynamicConfigValue {
	return []dashboard.DynamicConfigValue{
		{Id: "mappings", Value: valueText(m)},
		{Id: "custom.cellOptions", Value: map[string]any{"type": "color-text"}},
	}
}

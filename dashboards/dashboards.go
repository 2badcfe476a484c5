// Package dashboards defines nsagent's Grafana dashboards as code, with
// Grafana's typed Foundation SDK: a panel whose options do not fit the
// schema fails to compile or to build here, not in a user's Grafana.
//
// `go run ./dashboards/gen` writes every dashboard to dashboards/*.json;
// `make dashboards-check` fails when the committed JSON differs from what
// the generator writes. Every expression uses only metrics documented in
// docs/metrics.md (and Prometheus's own up and scrape_* series), and the
// dashboards' tests run each one against a real Prometheus scraping a real
// nsagent.
//
// The dashboards select their data source with a `datasource` template
// variable rather than an import-time `${DS_PROMETHEUS}` input, which file
// provisioning cannot fill in.
package dashboards

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Tag is on every nsagent dashboard; the dashboards link to each other
// through it.
const Tag = "nsagent"

// sel is the label selector every series in every panel is filtered by:
// the job and instance variables (multi-valued, so regex matches).
const sel = `job=~"$job",instance=~"$instance"`

// ds points panels and variables at the dashboard's datasource variable.
var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// File is one generated dashboard and the name it is written under.
type File struct {
	Name      string // file name in dashboards/, e.g. nsagent-containers.json
	Dashboard dashboard.Dashboard
}

// All builds every dashboard. An error means a builder rejected a panel.
func All() ([]File, error) {
	builders := []struct {
		name string
		b    func() *dashboard.DashboardBuilder
	}{
		{"nsagent-host-namespaces.json", hostNamespaces},
		{"nsagent-containers.json", containers},
		{"nsagent-agent-health.json", agentHealth},
	}
	var out []File
	for _, b := range builders {
		d, err := b.b().Build()
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", b.name, err)
		}
		numberPanels(&d)
		out = append(out, File{Name: b.name, Dashboard: d})
	}
	return out, nil
}

// numberPanels gives every panel and row a dashboard-unique id, in
// layout order: Grafana needs unique ids, and the builders leave them
// unset (rows at 0).
func numberPanels(d *dashboard.Dashboard) {
	for i := range d.Panels {
		id := uint32(i + 1)
		switch p := d.Panels[i]; {
		case p.Panel != nil:
			p.Panel.Id = &id
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
}

// Marshal renders a dashboard as the JSON committed in dashboards/:
// indented, with a trailing newline, so a diff of the file is readable.
func Marshal(d dashboard.Dashboard) ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// base is what every dashboard shares: uid, tags, time, refresh, the
// datasource/job/instance variables, and links to the other dashboards.
func base(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{Tag}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Time("now-1h", "now").
		Refresh("30s").
		Timezone(common.TimeZoneBrowser).
		Link(dashboard.NewDashboardLinkBuilder("nsagent").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{Tag}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true)).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus")).
		WithVariable(queryVar("job", "Job", `label_values(nsagent_build_info, job)`)).
		WithVariable(queryVar("instance", "Instance", `label_values(nsagent_build_info{job=~"$job"}, instance)`))
}

// queryVar is a multi-valued variable over a label's values with an "All"
// that matches any value.
func queryVar(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(ds).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".+").
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		})
}

// q is a range query with a legend.
func q(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(ds).Expr(expr).LegendFormat(legend).Range()
}

// tq is an instant query that feeds a table.
func tq(ref, expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(ds).RefId(ref).Expr(expr).
		Format(prometheus.PromQueryFormatTable).Instant()
}

// ts is a time series panel w grid columns wide.
func ts(title, description, unit string, w uint32, targets ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(ds).
		Unit(unit).
		Height(8).
		Span(w).
		FillOpacity(10).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true).
			Calcs([]string{"lastNotNull", "max"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
	for i, t := range targets {
		p.WithTarget(t.RefId(string(rune('A' + i))))
	}
	return p
}

// stacked makes a time series panel stack its series.
func stacked(p *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return p.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).FillOpacity(40)
}

// bigStat is a single-number panel.
func bigStat(title, description, unit, expr string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(ds).
		Unit(unit).
		Height(4).
		Span(6).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeValue).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		WithTarget(q(expr, "").RefId("A"))
}

// webLink is a data link into nsagent's web view on the agent that
// reported the row: instance is the agent's own address, as Prometheus
// scraped it, and the view reads the rest from the query string.
func webLink(title, query string) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "links", Value: []map[string]any{{
		"title":       title,
		"url":         "http://${__data.fields.instance}/?" + query,
		"targetBlank": true,
	}}}
}

// hidden hides a table column.
func hidden() dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: "custom.hidden", Value: true}
}

// mergeTables joins instant table queries on their common labels and
// drops the Time column, so several value series become one row each.
var mergeTables = []dashboard.DataTransformerConfig{
	{Id: "merge", Options: map[string]any{}},
	{Id: "organize", Options: map[string]any{
		"excludeByName": map[string]any{"Time": true, "__name__": true},
	}},
}

// valueText maps numeric values to words in a table cell.
func valueText(m map[string][2]string) []dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	i := int32(0)
	for _, k := range sortedKeys(m) {
		opts[k] = dashboard.ValueMappingResult{Text: cog.ToPtr(m[k][0]), Color: cog.ToPtr(m[k][1]), Index: cog.ToPtr(i)}
		i++
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}

func sortedKeys(m map[string][2]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// newTable is a table panel with its footer spelled out: the builder's
// default leaves footer.reducer null, which Grafana's schema requires.
func newTable() *table.PanelBuilder {
	return table.NewPanelBuilder().
		Datasource(ds).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}).CountRows(false))
}

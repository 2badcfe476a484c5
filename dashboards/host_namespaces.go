package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// nsSel adds the namespace-type variable to the common selector.
const nsSel = sel + `,type=~"$type"`

// hostNamespaces is the host-wide view: how many namespaces of each type
// exist, which are kept alive by something other than a process (a leaked
// network namespace shows here), how processes spread over them, and how
// pid and user namespaces nest.
func hostNamespaces() *dashboard.DashboardBuilder {
	return base("nsagent-host-namespaces", "nsagent / Host namespaces",
		"Linux namespaces on each host running nsagent serve: counts by type, namespaces without a process, processes per namespace, pid/user nesting.").
		WithVariable(queryVar("type", "Namespace type", `label_values(nsagent_namespaces{job=~"$job",instance=~"$instance"}, type)`)).
		WithRow(dashboard.NewRowBuilder("Overview")).
		WithPanel(bigStat("Namespaces", "Namespaces alive: held by a process, an nsfs mount or an open descriptor.", "short",
			`sum(nsagent_namespaces{`+nsSel+`})`)).
		WithPanel(bigStat("Namespaces without a process", "Held only by a bind mount or a descriptor. A number that only grows is a leak.", "short",
			`sum(nsagent_namespaces_without_processes{`+nsSel+`})`)).
		WithPanel(bigStat("Processes", "Processes on the selected hosts, kernel threads included.", "short",
			`sum(nsagent_processes{`+sel+`})`)).
		WithPanel(bigStat("Running containers", "Containers of every runtime nsagent recognises.", "short",
			`sum(nsagent_containers{`+sel+`})`)).
		WithRow(dashboard.NewRowBuilder("Namespaces over time")).
		WithPanel(stacked(ts("Namespaces by type", "nsagent_namespaces: every live namespace of each type.", "short", 12,
			q(`sum by (type) (nsagent_namespaces{`+nsSel+`})`, "{{type}}")))).
		WithPanel(ts("Namespaces alive with no process", "nsagent_namespaces_without_processes: held only by a mount (ip netns add) or an open descriptor. lsns does not list these.", "short", 12,
			q(`sum by (type) (nsagent_namespaces_without_processes{`+nsSel+`})`, "{{type}}"))).
		WithPanel(ts("Processes outside the host's namespaces", "User processes whose namespace of this type is not the host's: containerised or unshared.", "short", 12,
			q(`sum by (type) (nsagent_processes_outside_host_namespace{`+nsSel+`})`, "{{type}}"))).
		WithPanel(ts("Processes by state", "R running, S sleeping, D uninterruptible, Z zombie, I idle kernel threads.", "short", 12,
			q(`sum by (state) (nsagent_processes{`+sel+`})`, "{{state}}"))).
		WithRow(dashboard.NewRowBuilder("Namespaces")).
		WithPanel(namespaceTable("Namespaces held without a process",
			"Each namespace no process is in, and what holds it (mount, fd). Empty on a healthy host; click a row to open it in nsagent's web view.",
			`nsagent_namespace_info{`+nsSel+`,held_by!~"(.*,)?process(,.*)?"}`, 8)).
		WithPanel(processesPerNamespace()).
		WithPanel(ts("Processes per namespace (top 10)", "nsagent_namespace_processes: the ten busiest namespaces of the selected types.", "short", 12,
			q(`topk(10, nsagent_namespace_processes{`+nsSel+`})`, "{{type}} {{inode}} ({{instance}})"))).
		WithRow(dashboard.NewRowBuilder("Nesting")).
		WithPanel(ts("Nested pid and user namespaces", "pid and user namespaces with a parent other than the initial one: containers' pid namespaces, rootless runtimes' user namespaces.", "short", 12,
			q(`count by (type) (nsagent_namespace_info{`+sel+`,type=~"pid|user",parent!=""})`, "{{type}}"))).
		WithPanel(ts("Namespaces per owning user namespace", "Every namespace is owned by a user namespace; more than one owner means user namespaces are in use.", "short", 12,
			q(`count by (owner) (nsagent_namespace_info{`+nsSel+`,owner!=""})`, "owner {{owner}}"))).
		WithPanel(namespaceTable("pid and user namespace tree",
			"Each nested pid or user namespace with its parent and owner inodes; follow parent to climb the tree. Click a row to open it in nsagent's web view.",
			`nsagent_namespace_info{`+sel+`,type=~"pid|user",parent!=""}`, 24))
}

// namespaceTable lists nsagent_namespace_info rows with a link to each
// namespace in the web view.
func namespaceTable(title, description, expr string, w uint32) *table.PanelBuilder {
	return newTable().
		Title(title).
		Description(description).
		Datasource(ds).
		Height(8).
		Span(w).
		WithTarget(tq("A", expr)).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true, "__name__": true, "Value": true, "job": true},
			"indexByName":   map[string]any{"instance": 0, "type": 1, "inode": 2, "parent": 3, "owner": 4, "held_by": 5},
		}}).
		OverrideByName("inode", []dashboard.DynamicConfigValue{nsLink})
}

// nsLink opens the row's namespace in nsagent's web view.
var nsLink = webLink("Open namespace ${__data.fields.inode} in nsagent", "view=namespaces&type=${__data.fields.type}&ns=${__data.fields.inode}")

// processesPerNamespace ranks namespaces by how many processes they hold,
// with what holds them and who owns them.
func processesPerNamespace() *table.PanelBuilder {
	return newTable().
		Title("Processes per namespace").
		Description("nsagent_namespace_processes joined with nsagent_namespace_info, busiest first. Click an inode to open the namespace in nsagent's web view.").
		Datasource(ds).
		Height(8).
		Span(16).
		WithTarget(tq("A", `nsagent_namespace_processes{`+nsSel+`} * on (job, instance, type, inode) group_left (owner, parent, held_by) nsagent_namespace_info{`+nsSel+`}`)).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]any{"Time": true, "job": true},
			"indexByName":   map[string]any{"instance": 0, "type": 1, "inode": 2, "Value": 3, "held_by": 4, "owner": 5, "parent": 6},
			"renameByName":  map[string]any{"Value": "processes"},
		}}).
		SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("processes").Desc(true)}).
		OverrideByName("inode", []dashboard.DynamicConfigValue{nsLink})
}

package dashboards_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/nsagent/nsagent/dashboards"
	"sigs.k8s.io/yaml"
)

// committed lists the dashboard JSON files in this directory.
func committed(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in dashboards/: %v", err)
	}
	return files
}

// TestCommittedIsGenerated: the JSON in the repository is byte for byte
// what the generator writes, and there is no JSON it does not write.
// (make dashboards-check also runs the generator and git diff.)
func TestCommittedIsGenerated(t *testing.T) {
	files, err := dashboards.All()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		want, err := dashboards.Marshal(f.Dashboard)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f.Name)
		if err != nil {
			t.Fatalf("%v (run make dashboards)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what go run ./dashboards/gen writes (run make dashboards)", f.Name)
		}
	}
	for _, f := range committed(t) {
		if !slices.Contains(names, f) {
			t.Errorf("%s is not written by the generator", f)
		}
	}
}

// load reads a committed dashboard strictly into the Foundation SDK's
// dashboard type (every field known, every required field present, each
// panel's options and each query decoded by its plugin's type) and runs
// its Validate. The SDK's own PanelOrRowPanel decoder drops a panel that
// decodes cleanly (it mistakes its typed-nil error for a failure), so
// each panel is decoded here, strictly, one by one.
func load(t *testing.T, file string) dashboard.Dashboard {
	t.Helper()
	plugins.RegisterDefaultPlugins()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard.Dashboard
	if err := realError(d.UnmarshalJSONStrict(raw)); err != nil {
		t.Fatalf("%s: strict decode: %v", file, err)
	}
	var doc struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Panels) == 0 {
		t.Fatalf("%s: no panels: %v", file, err)
	}
	d.Panels = nil
	for i, p := range doc.Panels {
		var kind struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(p, &kind)
		if kind.Type == "row" {
			var r dashboard.RowPanel
			if err := realError(r.UnmarshalJSONStrict(p)); err != nil {
				t.Fatalf("%s: panels[%d]: %v", file, i, err)
			}
			d.Panels = append(d.Panels, dashboard.PanelOrRowPanel{RowPanel: &r})
			continue
		}
		var pn dashboard.Panel
		if err := realError(pn.UnmarshalJSONStrict(p)); err != nil {
			t.Fatalf("%s: panels[%d]: %v", file, i, err)
		}
		if err := realError(pn.Validate()); err != nil {
			t.Fatalf("%s: panels[%d]: validate: %v", file, i, err)
		}
		// The SDK's panel decoder drops targets too: decode each one
		// strictly as a Prometheus query here.
		var raw struct {
			Targets []json.RawMessage `json:"targets"`
		}
		_ = json.Unmarshal(p, &raw)
		for j, tg := range raw.Targets {
			var pq prometheus.Dataquery
			if err := realError(pq.UnmarshalJSONStrict(tg)); err != nil {
				t.Fatalf("%s: panels[%d].targets[%d]: %v", file, i, j, err)
			}
			var q query
			if err := json.Unmarshal(tg, &q); err != nil || q.Expr == "" || pq.Expr != q.Expr {
				t.Fatalf("%s: panels[%d].targets[%d]: not a Prometheus query: %s", file, i, j, tg)
			}
			targetsOf[&pn] = append(targetsOf[&pn], q)
		}
		d.Panels = append(d.Panels, dashboard.PanelOrRowPanel{Panel: &pn})
	}
	if err := realError(d.Validate()); err != nil {
		t.Fatalf("%s: validate: %v", file, err)
	}
	return d
}

// realError undoes the SDK's habit of returning an empty cog.BuildErrors
// (a typed nil) for success.
func realError(err error) error {
	if be, ok := err.(cog.BuildErrors); ok && len(be) == 0 {
		return nil
	}
	return err
}

func TestSchemaStrict(t *testing.T) {
	for _, f := range committed(t) {
		t.Run(f, func(t *testing.T) { load(t, f) })
	}
	// The check is strict: an unknown field and a panel option of the
	// wrong type are both refused.
	raw, _ := os.ReadFile(committed(t)[0])
	for _, c := range []struct{ name, from, to string }{
		{"unknown dashboard field", `"schemaVersion":`, `"schemaVersionTypo": 1, "schemaVersion":`},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(string(raw), c.from, c.to, 1)
			var d dashboard.Dashboard
			if err := realError(d.UnmarshalJSONStrict([]byte(bad))); err == nil {
				t.Errorf("strict decode accepted %s", c.name)
			}
		})
	}
	for _, c := range []struct{ name, panel string }{
		{"wrong option type", `{"type":"table","options":{"showHeader":"yes"}}`},
		{"unknown panel field", `{"type":"timeseries","titel":"x"}`},
		{"null footer reducer", `{"type":"table","options":{"footer":{"show":false,"reducer":null}}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p dashboard.Panel
			if err := realError(p.UnmarshalJSONStrict([]byte(c.panel))); err == nil {
				t.Errorf("strict panel decode accepted %s", c.panel)
			}
		})
	}
}

// TestVariablesAndDatasources: each dashboard picks its Prometheus with a
// datasource variable (no ${DS_PROMETHEUS} import input, which file
// provisioning cannot fill), has job and instance variables, and every
// panel and query uses the variable.
func TestVariablesAndDatasources(t *testing.T) {
	uids := map[string]bool{}
	for _, f := range committed(t) {
		t.Run(f, func(t *testing.T) {
			raw, _ := os.ReadFile(f)
			if bytes.Contains(raw, []byte("DS_PROMETHEUS")) || bytes.Contains(raw, []byte(`"__inputs"`)) {
				t.Error("uses an import input")
			}
			d := load(t, f)
			if d.Uid == nil || uids[*d.Uid] {
				t.Errorf("uid %v missing or repeated", d.Uid)
			} else {
				uids[*d.Uid] = true
			}
			if d.SchemaVersion < 39 {
				t.Errorf("schemaVersion %d, want a recent one", d.SchemaVersion)
			}
			vars := map[string]dashboard.VariableModel{}
			for _, v := range d.Templating.List {
				vars[v.Name] = v
			}
			if v, ok := vars["datasource"]; !ok || v.Type != dashboard.VariableTypeDatasource || v.Query == nil || v.Query.String == nil || *v.Query.String != "prometheus" {
				t.Errorf("datasource variable of type prometheus missing: %+v", v)
			}
			for _, name := range []string{"job", "instance"} {
				if v, ok := vars[name]; !ok || v.Type != dashboard.VariableTypeQuery {
					t.Errorf("query variable %s missing", name)
				}
			}
			ids := map[uint32]bool{}
			for _, p := range panels(d) {
				if p.Id == nil || ids[*p.Id] {
					t.Errorf("panel %q: id missing or repeated", title(p))
				} else {
					ids[*p.Id] = true
				}
				if p.Datasource == nil || p.Datasource.Uid == nil || *p.Datasource.Uid != "${datasource}" {
					t.Errorf("panel %q does not use the datasource variable", title(p))
				}
				for _, q := range queries(t, p) {
					if !strings.Contains(q.Expr, `job=~"$job"`) || !strings.Contains(q.Expr, `instance=~"$instance"`) {
						t.Errorf("panel %q query %s: not filtered by job and instance: %s", title(p), q.RefID, q.Expr)
					}
				}
			}
		})
	}
}

// provisioning mirrors Grafana's dashboard provider file, version 1
// (pkg/services/provisioning/dashboards: configVersion, configV1, configs,
// and the file reader's options).
type provisioning struct {
	APIVersion int64 `json:"apiVersion"`
	Providers  []struct {
		Name                  string `json:"name"`
		Type                  string `json:"type"`
		OrgID                 int64  `json:"orgId"`
		Folder                string `json:"folder"`
		FolderUID             string `json:"folderUid"`
		Editable              bool   `json:"editable"`
		DisableDeletion       bool   `json:"disableDeletion"`
		UpdateIntervalSeconds int64  `json:"updateIntervalSeconds"`
		AllowUIUpdates        bool   `json:"allowUiUpdates"`
		Options               struct {
			Path                      string `json:"path"`
			FoldersFromFilesStructure bool   `json:"foldersFromFilesStructure"`
		} `json:"options"`
	} `json:"providers"`
}

func TestProvisioningFile(t *testing.T) {
	raw, err := os.ReadFile("provisioning/dashboards.yml")
	if err != nil {
		t.Fatal(err)
	}
	var p provisioning
	if err := yaml.UnmarshalStrict(raw, &p); err != nil {
		t.Fatalf("provisioning/dashboards.yml: %v", err)
	}
	if p.APIVersion != 1 || len(p.Providers) != 1 {
		t.Fatalf("want apiVersion 1 and one provider: %+v", p)
	}
	pr := p.Providers[0]
	if pr.Type != "file" || pr.Name == "" || pr.OrgID != 1 || !filepath.IsAbs(pr.Options.Path) {
		t.Errorf("provider: %+v", pr)
	}
	// The compose stack mounts the dashboards where the provider looks.
	compose, err := os.ReadFile("../deploy/compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(compose), "../../dashboards:"+pr.Options.Path+":ro") {
		t.Errorf("compose.yaml does not mount dashboards/ at %s", pr.Options.Path)
	}
	// A typo in a field name is refused.
	bad := strings.Replace(string(raw), "updateIntervalSeconds", "updateIntervalSecond", 1)
	if err := yaml.UnmarshalStrict([]byte(bad), &p); err == nil {
		t.Error("strict decode accepted an unknown field")
	}
}

// query is what the tests need of a Prometheus target.
type query struct {
	RefID   string `json:"refId"`
	Expr    string `json:"expr"`
	Instant bool   `json:"instant"`
	Range   bool   `json:"range"`
}

func panels(d dashboard.Dashboard) []*dashboard.Panel {
	var out []*dashboard.Panel
	for _, p := range d.Panels {
		if p.Panel != nil {
			out = append(out, p.Panel)
		}
		if p.RowPanel != nil {
			for i := range p.RowPanel.Panels {
				out = append(out, &p.RowPanel.Panels[i])
			}
		}
	}
	return out
}

func title(p *dashboard.Panel) string {
	if p.Title == nil {
		return ""
	}
	return *p.Title
}

// targetsOf holds each loaded panel's queries, as load decoded them.
var targetsOf = map[*dashboard.Panel][]query{}

// queries returns a panel's Prometheus queries.
func queries(t *testing.T, p *dashboard.Panel) []query {
	t.Helper()
	out := targetsOf[p]
	if len(out) == 0 {
		t.Errorf("panel %q has no query", title(p))
	}
	return out
}

package dashboards_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
)

// healthyEmpty are the queries whose emptiness is the healthy state:
// they show only what went wrong (a namespace leaked, a process killed,
// a collector failing). Keyed by dashboard file, panel title and refId.
// They must still parse and use only exported metrics.
var healthyEmpty = []string{
	"nsagent-host-namespaces.json/Namespaces held without a process/A",
	"nsagent-containers.json/OOM kills/A",
	"nsagent-agent-health.json/Failing collectors/A",
}

// prometheusSynthetic are the series Prometheus records for every target
// itself; everything else a dashboard uses must be in nsagent's /metrics.
var prometheusSynthetic = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added", "scrape_samples_post_metric_relabeling"}

// promAPI calls Prometheus's HTTP API and returns its data, or its error.
func promAPI(base, path string, params url.Values) (json.RawMessage, error) {
	resp, err := http.Get(base + path + "?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	return r.Data, nil
}

// results counts the series (or samples) a query's data holds.
func results(data json.RawMessage) int {
	var d struct {
		Result []json.RawMessage `json:"result"`
	}
	_ = json.Unmarshal(data, &d)
	return len(d.Result)
}

// liveQuery is one dashboard query with its variables filled in.
type liveQuery struct {
	key, expr string
	instant   bool
}

// TestDashboardsAgainstLivePrometheus runs every query of every committed
// dashboard, variables filled in as Grafana would, against a real
// Prometheus scraping a real nsagent every second while a Docker
// container (memory, CPU and pids limits, spinning under its CPU quota)
// and an nsagent workload run. Every query must parse; every one not in
// healthyEmpty must return data; every metric named must be one the live
// /metrics exports; every variable's label_values must find values.
func TestDashboardsAgainstLivePrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("live test: root, docker, prometheus")
	}
	testutil.RequireRoot(t)
	bin := testutil.NSAgentBinary(t)
	image := testutil.DockerImage(t)
	rootfs := testutil.BusyboxRootfs(t)
	env := testutil.NewLauncherEnv(t)

	// A container with every limit the dashboards chart, burning a tenth
	// of a core so that its CFS quota throttles it.
	testutil.DockerRun(t, "--name", fmt.Sprintf("nsagent-dash-%d", os.Getpid()), "--memory", "64m", "--pids-limit", "64", "--cpus", "0.1",
		image, "sh", "-c", "while :; do :; done")
	// An nsagent workload.
	r := testutil.RunCmd(t, env.Env(), "", bin, "launch", "-d", "--name", "dash", "--mem", "16M", "--cpus", "0.5", "--pids", "16", rootfs, "sleep", "1000")
	if r.Code != 0 {
		t.Fatalf("nsagent launch -d: %d %s", r.Code, r.Stderr)
	}
	t.Cleanup(func() {
		_ = exec.Command(bin, "rm", "-f", "--state-dir", env.StateDir, "--cgroup-parent", env.CgroupParent, "dash").Run()
	})

	agent := testutil.FreeLoopbackAddr(t)
	testutil.Start(t, exec.Command(bin, "serve", "--web.listen-address="+agent, "--scan.min-interval=500ms",
		"--path.nsagent-state="+env.StateDir, "--collector.workloads.state-dir="+env.StateDir))

	p := testutil.StartPrometheus(t, fmt.Sprintf(`  - job_name: nsagent
    static_configs: [{targets: ['%s']}]
`, agent))
	promBase := p.URL

	// The metric families nsagent exports, from a live scrape.
	var exported []string
	deadline := time.Now().Add(30 * time.Second)
	for len(exported) == 0 {
		if resp, err := http.Get("http://" + agent + "/metrics"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(body), "\n") {
				if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
					exported = append(exported, f[2])
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("nsagent serve never answered /metrics")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every query of every dashboard, variables filled in.
	subst := strings.NewReplacer(
		// Grafana escapes regex metacharacters for PromQL's string syntax.
		"$job", strings.ReplaceAll(regexp.QuoteMeta("nsagent"), `\`, `\\`),
		"$instance", strings.ReplaceAll(regexp.QuoteMeta(agent), `\`, `\\`),
		"$type", ".+", "$container", ".+", // "All"
		"$__rate_interval", "15s", "$__range", "5m",
	)
	var qs []liveQuery
	var varQueries []string
	for _, f := range committed(t) {
		d := load(t, f)
		for _, v := range d.Templating.List {
			if v.Query != nil && v.Query.String != nil && strings.HasPrefix(*v.Query.String, "label_values(") {
				varQueries = append(varQueries, f+"/$"+v.Name+": "+subst.Replace(*v.Query.String))
			}
		}
		for _, p := range panels(d) {
			for _, q := range queries(t, p) {
				qs = append(qs, liveQuery{key: f + "/" + title(p) + "/" + q.RefID, expr: subst.Replace(q.Expr), instant: q.Instant})
			}
		}
	}
	for _, k := range healthyEmpty {
		if !slices.ContainsFunc(qs, func(q liveQuery) bool { return q.key == k }) {
			t.Errorf("healthyEmpty lists %s, which no dashboard has", k)
		}
	}

	// Metric names against the live /metrics.
	for _, q := range qs {
		for _, m := range metricNames(q.expr) {
			if !slices.Contains(exported, m) && !slices.Contains(prometheusSynthetic, m) {
				t.Errorf("%s: metric %s is not exported by nsagent serve", q.key, m)
			}
		}
	}

	// Wait for the targets, then give every query until the deadline to
	// return data (rates need two scrapes, the container a scan).
	deadline = time.Now().Add(120 * time.Second)
	for {
		data, err := promAPI(promBase, "/api/v1/query", url.Values{"query": {`up{job="nsagent"} == 1`}})
		if err == nil && results(data) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nsagent never up in Prometheus: %v\n%s", err, p.Log())
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(5 * time.Second) // a few scrapes
	pending := qs
	for {
		var still []liveQuery
		for _, q := range pending {
			now := time.Now()
			var data json.RawMessage
			var err error
			if q.instant {
				data, err = promAPI(promBase, "/api/v1/query", url.Values{"query": {q.expr}})
			} else {
				data, err = promAPI(promBase, "/api/v1/query_range", url.Values{"query": {q.expr},
					"start": {fmt.Sprint(now.Add(-30 * time.Second).Unix())}, "end": {fmt.Sprint(now.Unix())}, "step": {"1"}})
			}
			switch {
			case err != nil:
				t.Errorf("%s: Prometheus refused %q: %v", q.key, q.expr, err)
			case results(data) == 0 && !slices.Contains(healthyEmpty, q.key):
				still = append(still, q)
			}
		}
		pending = still
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	for _, q := range pending {
		t.Errorf("%s: no data for %s", q.key, q.expr)
	}
	t.Logf("%d queries of %d dashboards parsed and, but for %d healthy-empty ones, returned data; %d metric families exported",
		len(qs), len(committed(t)), len(healthyEmpty), len(exported))

	// Template variables: label_values(selector, label) finds values.
	lv := regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_]+)\)$`)
	for _, vq := range varQueries {
		key, expr, _ := strings.Cut(vq, ": ")
		m := lv.FindStringSubmatch(expr)
		if m == nil {
			t.Errorf("%s: not label_values(selector, label): %s", key, expr)
			continue
		}
		data, err := promAPI(promBase, "/api/v1/series", url.Values{"match[]": {m[1]},
			"start": {fmt.Sprint(time.Now().Add(-time.Minute).Unix())}})
		var series []map[string]string
		if err == nil {
			err = json.Unmarshal(data, &series)
		}
		found := slices.ContainsFunc(series, func(s map[string]string) bool { return s[m[2]] != "" })
		if err != nil || !found {
			t.Errorf("%s: %s finds no %s: %v", key, m[1], m[2], err)
		}
	}
}

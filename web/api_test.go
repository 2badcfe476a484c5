package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nsagent/nsagent/agent"
	"github.com/nsagent/nsagent/inventory"
	"github.com/prometheus/client_golang/prometheus"
)

func fixtureAgent(t *testing.T, layout string) *agent.Agent {
	t.Helper()
	root := filepath.Join("..", "inventory", "testdata", "fixtures", layout)
	a, err := agent.New(agent.Options{Paths: inventory.Paths{
		Procfs: filepath.Join(root, "proc"), Cgroupfs: filepath.Join(root, "cgroup"), Rootfs: filepath.Join(root, "rootfs"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func fetch(t *testing.T, h http.Handler, path string) (int, string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, rec.Header().Get("Content-Type"), string(b)
}

// TestAPIMatchesCLI: on each fixture host the API serves byte for byte
// what the CLI's golden files hold for the same host: /api/v1/namespaces
// is `nsagent lsns -J` (and ?type=net `lsns -J -t net`), /api/v1/cgroups
// `nsagent cgroups -o json`.
func TestAPIMatchesCLI(t *testing.T) {
	for _, layout := range []string{"v1", "hybrid", "v2"} {
		t.Run(layout, func(t *testing.T) {
			h, err := NewHandler(Options{Agent: fixtureAgent(t, layout), Gatherer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ path, golden string }{
				{"/api/v1/namespaces", "lsns.json"},
				{"/api/v1/namespaces?type=net", "lsns-net.json"},
				{"/api/v1/cgroups", "cgroups.json"},
			} {
				code, ctype, body := fetch(t, h, tc.path)
				if code != http.StatusOK || ctype != "application/json" {
					t.Fatalf("GET %s: %d %s\n%s", tc.path, code, ctype, body)
				}
				want, err := os.ReadFile(filepath.Join("..", "cmd", "nsagent", "testdata", "golden", layout, tc.golden))
				if err != nil {
					t.Fatal(err)
				}
				if body != string(want) {
					t.Errorf("GET %s differs from the CLI's %s:\n got %.300s\nwant %.300s", tc.path, tc.golden, body, want)
				}
			}
		})
	}
}

// TestAPIDocuments checks the process tree and containers documents and
// the errors of bad requests.
func TestAPIDocuments(t *testing.T) {
	h, err := NewHandler(Options{Agent: fixtureAgent(t, "hybrid"), Gatherer: prometheus.NewRegistry(), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := fetch(t, h, "/api/v1/processes")
	var tree struct {
		Processes []struct {
			PID      int               `json:"pid"`
			Children []json.RawMessage `json:"children"`
		} `json:"processes"`
		Roles map[string]string `json:"roles"`
	}
	if err := json.Unmarshal([]byte(body), &tree); code != 200 || err != nil || len(tree.Processes) == 0 || tree.Processes[0].PID != 1 || len(tree.Processes[0].Children) == 0 {
		t.Errorf("processes: %d %v %.300s", code, err, body)
	}
	if len(tree.Roles) == 0 {
		t.Errorf("processes: no runtime roles in %.300s", body)
	}

	code, _, body = fetch(t, h, "/api/v1/containers")
	var cs struct {
		Containers []struct {
			ID, Runtime      string
			MemoryLimitBytes *uint64 `json:"memory_limit_bytes"`
		}
	}
	if err := json.Unmarshal([]byte(body), &cs); code != 200 || err != nil || len(cs.Containers) != 1 ||
		cs.Containers[0].Runtime != "docker" || cs.Containers[0].MemoryLimitBytes == nil || *cs.Containers[0].MemoryLimitBytes != 8<<20 {
		t.Errorf("containers: %d %v %s", code, err, body)
	}

	for _, tc := range []struct {
		name, path string
		code       int
		want       string
	}{
		{"bad type", "/api/v1/namespaces?type=bogus", 400, `unknown namespace type: \"bogus\"`},
		{"unknown path", "/api/v1/nothing", 404, ""},
		{"healthz", "/healthz", 200, "ok"},
		{"web view", "/", 200, `name="nsagent-api"`},
		{"links page", "/about", 200, "/api/v1/namespaces"},
		{"namespaces, every column flat", "/api/v1/namespaces?output=all&tree=none", 200, `"holders"`},
		{"unknown parameter", "/api/v1/namespaces?foo=1", 400, "unknown parameter"},
		{"unknown column", "/api/v1/namespaces?output=NS,NOPE", 400, "unknown column: NOPE"},
		{"bad tree", "/api/v1/namespaces?tree=sideways", 400, "unknown tree relation"},
		{"interfaces not served", "/api/v1/namespaces?output=NS,IFACES", 400, "IFACES"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := fetch(t, h, tc.path)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("GET %s: %d %q, want %d containing %q", tc.path, code, body, tc.code, tc.want)
			}
		})
	}
}

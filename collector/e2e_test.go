package collector_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden /metrics files from the fixture trees")

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func fixtureArgs(layout string) []string {
	root := filepath.Join("..", "inventory", "testdata", "fixtures", layout)
	return []string{
		"--path.procfs=" + filepath.Join(root, "proc"),
		"--path.cgroupfs=" + filepath.Join(root, "cgroup"),
		"--path.rootfs=" + filepath.Join(root, "rootfs"),
		"--scan.proc-events=false", // events are the live kernel's, not the fixture's
	}
}

// serve starts `nsagent serve` on a free loopback port and waits until it
// answers; it is killed by pid when the test ends. client may carry TLS
// settings; ready reports whether a response means the server is up.
func serve(t *testing.T, scheme string, client *http.Client, args ...string) string {
	t.Helper()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var stderr bytes.Buffer
	cmd := exec.Command(testutil.NSAgentBinary(t), append([]string{"serve", "--web.listen-address=" + addr}, args...)...)
	cmd.Stderr = &stderr
	testutil.Start(t, cmd)
	base := scheme + "://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return base
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nsagent serve did not come up on %s:\n%s", addr, stderr.String())
	return ""
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// promtoolCheck runs `promtool check metrics` on a scrape and fails the
// test on any complaint (it is silent when the exposition is clean).
func promtoolCheck(t *testing.T, metrics string) {
	t.Helper()
	promtool := testutil.RequireCommand(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(metrics)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// volatile are the series whose values change from run to run whatever
// the host: timings and counters of the agent's own work. The golden
// comparison sets their values to 0; the series and labels still count.
var volatile = regexp.MustCompile(`^((nsagent_scrape_collector_duration_seconds|nsagent_scan_duration_seconds|nsagent_scan_shared_total|nsagent_proc_connector_events_total)(\{[^}]*\})?) \S+$`)

var buildInfo = regexp.MustCompile(`^nsagent_build_info\{.*\} 1$`)

func neutralize(metrics string) string {
	lines := strings.Split(metrics, "\n")
	for i, l := range lines {
		if m := volatile.FindStringSubmatch(l); m != nil {
			lines[i] = m[1] + " 0"
		} else if buildInfo.MatchString(l) {
			lines[i] = `nsagent_build_info{goversion="GOVERSION",revision="REVISION",version="VERSION"} 1`
		}
	}
	return strings.Join(lines, "\n")
}

// TestGoldenMetrics scrapes `nsagent serve` on each fixture host, checks
// the scrape with promtool, and diffs it against testdata/<layout>.metrics
// (go test -update rewrites them).
func TestGoldenMetrics(t *testing.T) {
	for _, layout := range []string{"v1", "hybrid", "v2"} {
		t.Run(layout, func(t *testing.T) {
			base := serve(t, "http", http.DefaultClient, append(fixtureArgs(layout), "--web.disable-exporter-metrics")...)
			code, body := get(t, http.DefaultClient, base+"/metrics")
			if code != http.StatusOK {
				t.Fatalf("GET /metrics: %d\n%s", code, body)
			}
			promtoolCheck(t, body)
			if strings.Contains(body, "success\"} 0") || regexp.MustCompile(`collector_success\{[^}]*\} 0`).MatchString(body) {
				t.Errorf("a collector failed on the fixture:\n%s", grep(body, "collector_success"))
			}
			got := neutralize(body)
			golden := filepath.Join("testdata", layout+".metrics")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update creates it)", err)
			}
			if got != string(want) {
				t.Errorf("/metrics differs from %s (go test -update rewrites it; review the diff):\n%s", golden, lineDiff(string(want), got))
			}
		})
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	inW := map[string]bool{}
	for _, l := range w {
		inW[l] = true
	}
	inG := map[string]bool{}
	for _, l := range g {
		inG[l] = true
	}
	var b strings.Builder
	n := 0
	for _, l := range w {
		if !inG[l] && n < 20 {
			b.WriteString("-" + l + "\n")
			n++
		}
	}
	for _, l := range g {
		if !inW[l] && n < 40 {
			b.WriteString("+" + l + "\n")
			n++
		}
	}
	return b.String()
}

// TestBadInput: each mistake exits 1 with a message naming it, and
// nothing listens.
func TestBadInput(t *testing.T) {
	bin := testutil.NSAgentBinary(t)
	dir := t.TempDir()
	malformed := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(malformed, []byte("tls_server_config: [oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badUsers := filepath.Join(dir, "users.yml")
	if err := os.WriteFile(badUsers, []byte("basic_auth_users:\n  alice: not-a-bcrypt-hash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown collector", []string{"--collector.nosuch"}, `unknown collector "nosuch"`},
		{"unknown no-collector", []string{"--no-collector.bogus"}, `unknown collector "bogus"`},
		{"listen address without port", []string{"--web.listen-address=127.0.0.1"}, `--web.listen-address "127.0.0.1"`},
		{"listen address bad port", []string{"--web.listen-address=127.0.0.1:99999"}, `invalid port "99999"`},
		{"malformed web config", []string{"--web.config.file=" + malformed}, "web config " + malformed},
		{"web config not a config", []string{"--web.config.file=/etc/hostname"}, "web config /etc/hostname: yaml"},
		{"web config bad hash", []string{"--web.config.file=" + badUsers}, "web config " + badUsers},
		{"missing web config", []string{"--web.config.file=" + filepath.Join(dir, "absent.yml")}, "absent.yml"},
		{"bad log level", []string{"--log.level=loud"}, `--log.level "loud"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"serve"}, tc.args...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-ctx.Done():
				cmd.Process.Kill()
				<-done
				t.Fatalf("nsagent serve %v kept running", tc.args)
			}
			if code := cmd.ProcessState.ExitCode(); code != 1 {
				t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr.String())
			}
			msg := strings.TrimSpace(stderr.String())
			if !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") > 0 {
				t.Errorf("stderr = %q, want one line containing %q", msg, tc.want)
			}
		})
	}
}

// promQuery runs an instant query against Prometheus's HTTP API and
// returns the samples' values by their type, id or job label (the first
// the sample has).
func promQuery(t *testing.T, base, q string) map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range r.Data.Result {
		key := ""
		for _, k := range []string{"type", "id", "job"} {
			if v, ok := s.Metric[k]; ok {
				key = v
				break
			}
		}
		out[key] = fmt.Sprint(s.Value[1])
	}
	return out
}

// tlsClient trusts only the test CA.
func tlsClient(t *testing.T, caPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("bad CA")
	}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

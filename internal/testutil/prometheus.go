package testutil

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server (Debian prometheus) a test
// started on loopback.
type Prometheus struct {
	URL string // http://127.0.0.1:PORT
	log *syncBuffer
}

// StartPrometheus starts Prometheus on a free loopback port, scraping
// every second the jobs in scrapeConfigs (YAML list items, as they go
// under scrape_configs:), waits until it is ready and stops it when the
// test ends. Its storage is in a temporary directory of the test.
func StartPrometheus(t testing.TB, scrapeConfigs string) *Prometheus {
	t.Helper()
	bin := RequireCommand(t, "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	body := "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n" + scrapeConfigs
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := FreeLoopbackAddr(t)
	p := &Prometheus{URL: "http://" + addr, log: &syncBuffer{}}
	cmd := exec.Command(bin, "--config.file="+cfg, "--web.listen-address="+addr, "--storage.tsdb.path="+filepath.Join(dir, "data"))
	cmd.Stdout, cmd.Stderr = p.log, p.log
	Start(t, cmd)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready: %v\n%s", err, p.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Log returns the end of Prometheus's log, for failure messages.
func (p *Prometheus) Log() string {
	s := p.log.String()
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

// syncBuffer is a bytes.Buffer the command's output goroutine and the
// test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

package collector_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
	"golang.org/x/crypto/bcrypt"
)

// testCert writes a self-signed certificate for 127.0.0.1 and its key to
// dir and returns the certificate's PEM.
func testCert(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nsagent-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, _ := x509.MarshalECPrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM
}

// lsnsCounts counts util-linux lsns's namespaces by type. lsns 2.38 exits
// 1 when a process vanishes under it, which a busy host does: nil then.
func lsnsCounts(t *testing.T) map[string]int {
	t.Helper()
	out, err := exec.Command("lsns", "-J", "-l", "-o", "NS,TYPE").Output()
	if err != nil {
		t.Logf("lsns: %v (retrying)", err)
		return nil
	}
	var doc struct {
		Namespaces []struct {
			NS   uint64 `json:"ns"`
			Type string `json:"type"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("lsns -J: %v", err)
	}
	c := map[string]int{}
	for _, n := range doc.Namespaces {
		c[n.Type]++
	}
	return c
}

// TestLivePrometheus starts a real Prometheus on loopback that scrapes two
// nsagents on this host, one plain and one behind TLS and basic auth, and
// checks through Prometheus's API that the namespace counts per type are
// util-linux lsns's and that a container's memory limit is docker
// inspect's; an unauthenticated scrape of the second gets 401.
func TestLivePrometheus(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "lsns")
	image := testutil.DockerImage(t)
	id := testutil.DockerRun(t, "--memory", "48m", "--pids-limit", "64", image, "sleep", "3600")
	wantLimit := strings.TrimSpace(testutil.Run(t, "docker", "inspect", "-f", "{{.HostConfig.Memory}}", id))

	dir := t.TempDir()
	caPEM := testCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, []byte(fmt.Sprintf(`tls_server_config:
  cert_file: %s
  key_file: %s
basic_auth_users:
  scraper: %s
`, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), hash)), 0o600); err != nil {
		t.Fatal(err)
	}

	plain := serve(t, "http", http.DefaultClient, "--scan.min-interval=200ms")
	tc := tlsClient(t, caPEM)
	secure := serve(t, "https", tc, "--web.config.file="+webConfig, "--scan.min-interval=200ms")

	// Without credentials: 401. With them: 200.
	if code, _ := get(t, tc, secure+"/metrics"); code != http.StatusUnauthorized {
		t.Errorf("unauthenticated scrape: %d, want 401", code)
	}
	req, _ := http.NewRequest("GET", secure+"/metrics", nil)
	req.SetBasicAuth("scraper", "s3cret")
	resp, err := tc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("authenticated scrape over TLS: %d, want 200", resp.StatusCode)
	}
	// A live scrape is as clean as the fixture's.
	_, body := get(t, http.DefaultClient, plain+"/metrics")
	promtoolCheck(t, body)

	p := testutil.StartPrometheus(t, fmt.Sprintf(`  - job_name: plain
    static_configs: [{targets: ['%s']}]
  - job_name: secure
    scheme: https
    tls_config: {ca_file: %s}
    basic_auth: {username: scraper, password: s3cret}
    static_configs: [{targets: ['%s']}]
`, strings.TrimPrefix(plain, "http://"), filepath.Join(dir, "cert.pem"), strings.TrimPrefix(secure, "https://")))
	promBase := p.URL
	deadline := time.Now().Add(60 * time.Second)
	// Both targets up.
	for {
		up := promQuery(t, promBase, "up")
		if up["plain"] == "1" && up["secure"] == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("targets not up in Prometheus: %v\n%s", up, p.Log())
		}
		time.Sleep(500 * time.Millisecond)
	}

	// The container's memory limit, as Prometheus stored it.
	q := fmt.Sprintf(`nsagent_container_memory_limit_bytes{job="plain",id=%q}`, id)
	var got map[string]string
	for time.Now().Before(deadline) {
		if got = promQuery(t, promBase, q); got[id] != "" {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got[id] != wantLimit {
		t.Errorf("%s = %v, docker inspect says %s", q, got, wantLimit)
	}

	// Namespaces with a process, per type, against lsns. The host is busy
	// (other tests start and stop processes): compare when lsns gives the
	// same counts before and after the query, with a scrape in between.
	var last string
	for i := 0; i < 30; i++ {
		before := lsnsCounts(t)
		time.Sleep(2500 * time.Millisecond) // scrape interval 1s, min-interval 200ms
		prom := promQuery(t, promBase, `nsagent_namespaces{job="plain"} - nsagent_namespaces_without_processes{job="plain"}`)
		after := lsnsCounts(t)
		if before == nil || fmt.Sprint(before) != fmt.Sprint(after) {
			continue
		}
		ok := len(prom) == 8
		for typ, n := range before {
			if prom[typ] != fmt.Sprint(n) {
				ok = false
			}
		}
		for typ, v := range prom {
			if v != "0" && before[typ] == 0 {
				ok = false
			}
		}
		if ok {
			t.Logf("namespaces per type, lsns = Prometheus: %v", before)
			return
		}
		last = fmt.Sprintf("lsns %v, Prometheus %v", before, prom)
	}
	t.Errorf("namespace counts never matched: %s", last)
}

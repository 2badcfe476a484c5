package testutil

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Registry is a distribution registry (Debian docker-registry) a test
// started on a free loopback port, with its storage and log in the
// test's temporary directory.
type Registry struct {
	// Addr is 127.0.0.1:PORT.
	Addr string
	// Storage is the filesystem storage root (blobs live under
	// docker/registry/v2/blobs/sha256/XX/HEX/data).
	Storage string
	// LogPath is where the registry logs every request.
	LogPath string
}

// StartRegistry starts /usr/bin/docker-registry on 127.0.0.1 and stops
// it (by pid) when the test ends.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	bin := "/usr/bin/docker-registry"
	if _, err := os.Stat(bin); err != nil {
		Unavailable(t, "docker-registry (make deps installs it)")
	}
	dir := t.TempDir()
	r := &Registry{Addr: FreeLoopbackAddr(t), Storage: filepath.Join(dir, "storage"), LogPath: filepath.Join(dir, "registry.log")}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", r.Storage, r.Addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(r.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	Start(t, cmd)
	for end := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return r
		}
		if time.Now().After(end) {
			b, _ := os.ReadFile(r.LogPath)
			t.Fatalf("registry on %s did not come up: %v\n%s", r.Addr, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Requests counts the requests the registry logged for paths containing
// substr (e.g. "/v2/busybox/").
func (r *Registry) Requests(t testing.TB, substr string) int {
	t.Helper()
	b, err := os.ReadFile(r.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		// Access log lines: `... "GET /v2/x/manifests/t HTTP/1.1" 200 ...`.
		if strings.Contains(line, "HTTP/1.1\"") && strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// BlobPath is where the registry stores the blob with digest sha256:HEX.
func (r *Registry) BlobPath(digest string) string {
	h := strings.TrimPrefix(digest, "sha256:")
	return filepath.Join(r.Storage, "docker/registry/v2/blobs/sha256", h[:2], h, "data")
}

// FreeLoopbackAddr returns 127.0.0.1:PORT with a port free a moment ago.
func FreeLoopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

package web

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
)

// agentServer is a real `nsagent serve` on a loopback port.
type agentServer struct {
	URL string
	log *bytes.Buffer
}

// startServe builds nsagent and runs `nsagent serve` on a free loopback
// port with a one-second page refresh and no scan reuse (so each live
// update sees the host as it is), plus extra flags; it returns once
// /healthz answers. The clean-up kills the agent by its pid.
func startServe(t *testing.T, extra ...string) *agentServer {
	t.Helper()
	testutil.RequireRoot(t)
	bin := testutil.NSAgentBinary(t)
	addr := testutil.FreeLoopbackAddr(t)
	args := append([]string{"serve", "--web.listen-address=" + addr, "--web.refresh=1s", "--scan.min-interval=0s", "--log.level=warn"}, extra...)
	cmd := exec.Command(bin, args...)
	s := &agentServer{URL: "http://" + addr, log: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	testutil.Start(t, cmd)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nsagent serve %s log:\n%s", strings.Join(args[1:], " "), s.log)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("nsagent serve on %s did not answer /healthz: %v\n%s", addr, err, s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// get fetches a path from the agent and returns the status and body.
func (s *agentServer) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, b
}

// rawRequest sends one request line as written (no client cleaning of
// dot segments) and returns the status code and the response.
func rawRequest(t *testing.T, addr, method, target string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method, target, addr)
	b, _ := io.ReadAll(c)
	var code int
	if _, err := fmt.Sscanf(string(b), "HTTP/1.1 %d", &code); err != nil {
		t.Fatalf("%s %.80s: no status line in %.200q", method, target, b)
	}
	return code, string(b)
}

// TestServeBadInput sends bad input to every API endpoint and page
// parameter of a real `nsagent serve` and wants a 4xx with a one-line
// message naming the problem, never a 5xx, a redirect or a crash.
func TestServeBadInput(t *testing.T) {
	s := startServe(t)
	addr := strings.TrimPrefix(s.URL, "http://")
	big := strings.Repeat("a", 10<<10)
	type tc struct {
		name, method, target string
		code                 int
		want                 string
	}
	tests := []tc{
		{"namespaces bad type", "GET", "/api/v1/namespaces?type=bogus", 400, `unknown namespace type: \"bogus\"`},
		{"namespaces bad output", "GET", "/api/v1/namespaces?output=NOPE", 400, "unknown column: NOPE"},
		{"namespaces output too long", "GET", "/api/v1/namespaces?output=" + strings.Repeat("NS,", 100), 400, "at most 256"},
		{"namespaces bad tree", "GET", "/api/v1/namespaces?tree=x", 400, `unknown tree relation \"x\"`},
		{"namespaces empty type", "GET", "/api/v1/namespaces?type=", 400, `parameter \"type\" is empty`},
		{"namespaces repeated type", "GET", "/api/v1/namespaces?type=net&type=pid", 400, `parameter \"type\" given 2 times`},
		{"namespaces malformed escape", "GET", "/api/v1/namespaces?output=%zz", 400, "malformed query string"},
		{"namespaces NUL parameter", "GET", "/api/v1/namespaces?%00=1", 400, "unknown parameter"},
		{"namespaces markup type", "GET", "/api/v1/namespaces?type=%3Cscript%3E", 400, "unknown namespace type"},
		{"nosuch endpoint", "GET", "/api/v1/nosuch", 404, "no such page"},
		{"api root", "GET", "/api/v1/", 404, "no such page"},
		{"endpoint subpath", "GET", "/api/v1/namespaces/x", 404, "no such page"},
		{"traversal", "GET", "/api/v1/../../etc/passwd", 400, "is not clean"},
		{"encoded traversal", "GET", "/api/v1/%2e%2e/%2e%2e/etc/passwd", 400, "is not clean"},
		{"traversal from an endpoint", "GET", "/api/v1/namespaces/../../../etc/shadow", 400, "is not clean"},
		{"doubled slash", "GET", "//api/v1/processes", 400, "is not clean"},
		{"asset traversal", "GET", "/assets/../../../../etc/passwd", 400, "is not clean"},
		{"page unknown view", "GET", "/?view=admin", 400, `unknown view "admin"`},
		{"page bad pid", "GET", "/?pid=abc", 400, `invalid pid "abc"`},
		{"page bad inode", "GET", "/?ns=net:[1]", 400, "invalid namespace inode"},
		{"page cgroup traversal", "GET", "/?cgroup=/docker/../etc", 400, "invalid cgroup"},
		{"page unknown parameter", "GET", "/?orgId=1", 400, `unknown parameter "orgId"`},
		{"page 10 KB query", "GET", "/?q=" + big, 414, "the limit is 8192"},
	}
	for _, ep := range []string{"namespaces", "processes", "cgroups", "containers"} {
		tests = append(tests,
			tc{ep + " unknown parameter", "GET", "/api/v1/" + ep + "?foo=1", 400, `unknown parameter \"foo\"`},
			tc{ep + " 10 KB query", "GET", "/api/v1/" + ep + "?x=" + big, 414, "the limit is 8192"},
			tc{ep + " POST", "POST", "/api/v1/" + ep, 405, "not allowed"},
			tc{ep + " DELETE", "DELETE", "/api/v1/" + ep, 405, "not allowed"},
			tc{ep + " PUT", "PUT", "/api/v1/" + ep, 405, "not allowed"},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, resp := rawRequest(t, addr, tt.method, tt.target)
			_, body, _ := strings.Cut(resp, "\r\n\r\n")
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("%s %.80s: %d %.300q, want %d containing %q", tt.method, tt.target, code, body, tt.code, tt.want)
			}
			if strings.Count(strings.TrimSpace(body), "\n") > 0 {
				t.Errorf("%s %.80s: error is not one line: %.300q", tt.method, tt.target, body)
			}
		})
	}
	// Good requests still work, and the agent survived all of that.
	for _, p := range []string{"/api/v1/namespaces?output=all&tree=none", "/api/v1/namespaces?type=net", "/api/v1/processes", "/api/v1/cgroups", "/api/v1/containers", "/?view=namespaces&type=net", "/about"} {
		if code, body := s.get(t, p); code != 200 {
			t.Errorf("GET %s: %d %.200s", p, code, body)
		}
	}
}

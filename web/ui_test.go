package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, method, target string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, "/", nil)
	req.URL.RawQuery = ""
	if i := strings.IndexByte(target, '?'); i >= 0 {
		req.URL.Path, req.URL.RawQuery = target[:i], target[i+1:]
	} else {
		req.URL.Path = target
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestPageParams(t *testing.T) {
	long := strings.Repeat("a", MaxQueryLen+1)
	tests := []struct {
		name    string
		query   string
		status  int
		message string // a part of the error
	}{
		{name: "none", query: "", status: 200},
		{name: "search", query: "q=sleep", status: 200},
		{name: "search with markup", query: "q=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E", status: 200},
		{name: "all parameters", query: "view=tree&q=x&pid=1&logical=1&refresh=2", status: 200},
		{name: "namespaces view", query: "view=namespaces&ns=4026531840&type=net", status: 200},
		{name: "container id", query: "container=8b9816610e0c", status: 200},
		{name: "k8s container name", query: "container=default/web-0/nginx", status: 200},
		{name: "cgroup", query: "view=cgroups&cgroup=/docker/abc", status: 200},
		{name: "unknown view", query: "view=admin", status: 400, message: `unknown view "admin"`},
		{name: "search too long", query: "q=" + long, status: 400, message: "the limit is 256"},
		{name: "search with a control character", query: "q=a%00b", status: 400, message: "control character"},
		{name: "search not UTF-8", query: "q=%ff", status: 400, message: "not valid UTF-8"},
		{name: "pid not a number", query: "pid=abc", status: 400, message: `invalid pid "abc"`},
		{name: "pid zero", query: "pid=0", status: 400, message: "invalid pid"},
		{name: "pid negative", query: "pid=-5", status: 400, message: "invalid pid"},
		{name: "pid too large", query: "pid=99999999999999999999", status: 400, message: "invalid pid"},
		{name: "malformed inode", query: "ns=net:[4026531840]", status: 400, message: "invalid namespace inode"},
		{name: "inode overflow", query: "ns=184467440737095516160", status: 400, message: "invalid namespace inode"},
		{name: "unknown namespace type", query: "type=nett", status: 400, message: `unknown namespace type "nett"`},
		{name: "type outside namespaces", query: "view=cgroups&type=net", status: 400, message: "type filters namespaces"},
		{name: "container with markup", query: "container=%3Cscript%3E", status: 400, message: "invalid container"},
		{name: "relative cgroup", query: "cgroup=docker", status: 400, message: "invalid cgroup"},
		{name: "cgroup with dot-dot", query: "cgroup=/docker/../etc", status: 400, message: "invalid cgroup"},
		{name: "logical not a bool", query: "logical=maybe", status: 400, message: "invalid logical"},
		{name: "refresh too large", query: "refresh=100000", status: 400, message: "invalid refresh"},
		{name: "unknown parameter", query: "orgId=1", status: 400, message: `unknown parameter "orgId"`},
		{name: "repeated parameter", query: "q=a&q=b", status: 400, message: `"q" given 2 times`},
		{name: "malformed escape", query: "q=%zz", status: 400, message: "malformed query string"},
		{name: "huge query", query: "q=" + strings.Repeat("x", MaxRawQuery), status: 414, message: "the limit is 8192"},
	}
	h := UIHandler(UIOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, "GET", "/?"+tt.query)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("GET /?%.80s: status %d, want %d: %s", tt.query, resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				if !strings.Contains(string(body), tt.message) || strings.Count(string(body), "\n") != 1 {
					t.Errorf("error body %q: want one line containing %q", body, tt.message)
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("error Content-Type %q: an error that quotes the request must not be HTML", ct)
				}
			}
			if resp.Header.Get("Content-Security-Policy") != ContentSecurityPolicy {
				t.Errorf("no CSP on a %d response", resp.StatusCode)
			}
		})
	}
}

// TestPageShell checks the page: security headers, options carried in
// meta tags, and no inline script, inline style or event handler
// attribute anywhere in the embedded HTML (the CSP would block them, and
// their absence is what makes the CSP strict).
func TestPageShell(t *testing.T) {
	h := UIHandler(UIOptions{APIPrefix: "/x/api", RedactCmdline: true, Refresh: 3 * time.Second})
	resp := get(t, h, "GET", "/")
	body, _ := io.ReadAll(resp.Body)
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, want := range []string{
		`<meta name="nsagent-api" content="/x/api">`,
		`<meta name="nsagent-redact" content="1">`,
		`<meta name="nsagent-refresh" content="3">`,
		`<script src="/assets/app.js" defer></script>`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`(?i)\sstyle\s*=`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)<style`),
		regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`), // anything from elsewhere
	} {
		if m := bad.Find(body); m != nil {
			t.Errorf("page has %q (matches %s)", m, bad)
		}
	}
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAll(body, -1) {
		if !strings.Contains(string(m), `src="/assets/`) {
			t.Errorf("script tag %s does not load an embedded asset", m)
		}
	}
}

func TestAssets(t *testing.T) {
	h := UIHandler(UIOptions{})
	tests := []struct {
		name, method, target string
		status               int
		ctype                string
	}{
		{name: "script", method: "GET", target: "/assets/app.js", status: 200, ctype: "text/javascript; charset=utf-8"},
		{name: "style", method: "GET", target: "/assets/app.css", status: 200, ctype: "text/css; charset=utf-8"},
		{name: "icon", method: "GET", target: "/assets/favicon.svg", status: 200, ctype: "image/svg+xml"},
		{name: "head", method: "HEAD", target: "/assets/app.js", status: 200, ctype: "text/javascript; charset=utf-8"},
		{name: "the page template is served rendered only", method: "GET", target: "/assets/index.html", status: 404},
		{name: "directory listing", method: "GET", target: "/assets/", status: 404},
		{name: "traversal", method: "GET", target: "/assets/../ui.go", status: 404},
		{name: "unknown page", method: "GET", target: "/admin", status: 404},
		{name: "asset with parameters", method: "GET", target: "/assets/app.js?v=1", status: 400},
		{name: "post", method: "POST", target: "/", status: 405},
		{name: "delete asset", method: "DELETE", target: "/assets/app.js", status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, tt.method, tt.target)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s: status %d, want %d", tt.method, tt.target, resp.StatusCode, tt.status)
			}
			if tt.ctype != "" && resp.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.ctype)
			}
			if resp.Header.Get("Content-Security-Policy") == "" {
				t.Errorf("no CSP")
			}
		})
	}
	// A revalidation with the ETag is a 304.
	resp := get(t, h, "GET", "/assets/app.js")
	req := httptest.NewRequest("GET", "/assets/app.js", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation with ETag %q: status %d, want 304", resp.Header.Get("ETag"), rec.Code)
	}
}

// FuzzPageParams: no query string makes the page handler panic or answer
// anything but 200, 400 or 414.
func FuzzPageParams(f *testing.F) {
	for _, s := range []string{"", "q=sleep", "pid=1&logical=1", "ns=4026531840", "q=%zz", "view=x", "cgroup=/a/../b", "q=a&q=b"} {
		f.Add(s)
	}
	h := UIHandler(UIOptions{})
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.RawQuery = q
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 414:
		default:
			t.Fatalf("query %q: status %d", q, rec.Code)
		}
	})
}

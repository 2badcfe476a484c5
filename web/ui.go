// Package web is nsagent's browser view of the host: the process tree with
// its namespace and cgroup boundaries, the namespaces, the containers and
// the cgroup tree, served by `nsagent serve`.
//
// This file owns the page: the HTML shell and its embedded assets (no CDN,
// no build step), the security headers every page response carries, and
// the validation of the page's URL parameters. The data comes from the JSON
// API (/api/v1/...), which the page fetches and renders; process names and
// command lines are attacker-controlled, so the page renders every value as
// text and the Content-Security-Policy forbids inline script and style.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

//go:embed assets
var assetFS embed.FS

// ContentSecurityPolicy is sent with every response of the UI. Nothing
// inline may run or style the page, nothing may be loaded from elsewhere,
// and Trusted Types make any assignment of a string to innerHTML (or any
// other HTML sink) throw, so a command line can only ever become text.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// Limits on the page's parameters. MaxQueryLen bounds the search (what a
// person types, or a Grafana link carries); MaxRawQuery bounds the whole
// query string so a huge URL is refused before it is parsed.
const (
	MaxQueryLen  = 256
	MaxRawQuery  = 8192
	maxPID       = 1 << 22 // PID_MAX_LIMIT on 64-bit kernels
	maxCgroupLen = 4096
	maxRefresh   = 3600
)

// UIOptions configure the page.
type UIOptions struct {
	// APIPrefix is where the JSON API is served; "" means "/api/v1".
	APIPrefix string
	// RedactCmdline tells the page command lines are redacted
	// (--web.redact-cmdline): it shows only process names and never
	// searches arguments. The API must redact them too; the page cannot
	// take back what the API sent.
	RedactCmdline bool
	// Refresh is how often the page updates; 0 means 5 seconds. A page
	// parameter (?refresh=N) overrides it per view.
	Refresh time.Duration
}

// Views are the page's tabs, as ?view= names them.
var Views = []string{"tree", "namespaces", "containers", "cgroups"}

// nsTypes are the namespace types ?type= accepts, as /proc/<pid>/ns names
// them. The inventory package has the same list; the page must not depend
// on it to validate a URL.
var nsTypes = []string{"mnt", "net", "pid", "uts", "ipc", "user", "cgroup", "time"}

// PageParams are a page URL's parameters once validated. The page reads
// the same parameters from its own URL; the server checks them first so a
// bad link gets a clear 400 instead of a page that silently ignores it.
type PageParams struct {
	View      string
	Query     string
	PID       int
	NS        uint64
	Container string
	Cgroup    string
	Logical   bool
	Type      string
	Refresh   int // seconds; -1 when not given
}

// paramCheck validates one parameter's value into p.
type paramCheck func(p *PageParams, v string) error

var pageParams = map[string]paramCheck{
	"view": func(p *PageParams, v string) error {
		for _, name := range Views {
			if v == name {
				p.View = v
				return nil
			}
		}
		return fmt.Errorf("unknown view %q (want one of %s)", clip(v), strings.Join(Views, ", "))
	},
	"q": func(p *PageParams, v string) error {
		if len(v) > MaxQueryLen {
			return fmt.Errorf("search is %d bytes, the limit is %d", len(v), MaxQueryLen)
		}
		if err := printable(v); err != nil {
			return fmt.Errorf("search: %w", err)
		}
		p.Query = v
		return nil
	},
	"pid": func(p *PageParams, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPID {
			return fmt.Errorf("invalid pid %q (want a number from 1 to %d)", clip(v), maxPID)
		}
		p.PID = n
		return nil
	},
	"ns": func(p *PageParams, v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return fmt.Errorf("invalid namespace inode %q (want a positive decimal number, as lsns prints it)", clip(v))
		}
		p.NS = n
		return nil
	},
	"container": func(p *PageParams, v string) error {
		if v == "" || len(v) > 256 || strings.ContainsFunc(v, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)))
		}) {
			return fmt.Errorf("invalid container %q (want an id or a name: letters, digits and -_./:, at most 256)", clip(v))
		}
		p.Container = v
		return nil
	},
	"cgroup": func(p *PageParams, v string) error {
		if !strings.HasPrefix(v, "/") || len(v) > maxCgroupLen || printable(v) != nil || path.Clean(v) != v {
			return fmt.Errorf("invalid cgroup %q (want a clean absolute path like /docker/<id>)", clip(v))
		}
		p.Cgroup = v
		return nil
	},
	"logical": func(p *PageParams, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("invalid logical %q (want 1 or 0)", clip(v))
		}
		p.Logical = b
		return nil
	},
	"type": func(p *PageParams, v string) error {
		for _, t := range nsTypes {
			if v == t {
				p.Type = v
				return nil
			}
		}
		return fmt.Errorf("unknown namespace type %q (want one of %s)", clip(v), strings.Join(nsTypes, ", "))
	},
	"refresh": func(p *PageParams, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxRefresh {
			return fmt.Errorf("invalid refresh %q (want seconds from 0, meaning off, to %d)", clip(v), maxRefresh)
		}
		p.Refresh = n
		return nil
	},
}

// ParsePageParams validates a page URL's query string. Every parameter may
// appear once; an unknown one is an error, so a mistyped link says so.
func ParsePageParams(rawQuery string) (PageParams, error) {
	p := PageParams{Refresh: -1}
	if len(rawQuery) > MaxRawQuery {
		return p, fmt.Errorf("query string is %d bytes, the limit is %d", len(rawQuery), MaxRawQuery)
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return p, fmt.Errorf("malformed query string: %w", err)
	}
	for name, vs := range vals {
		check, ok := pageParams[name]
		if !ok {
			return p, fmt.Errorf("unknown parameter %q", clip(name))
		}
		if len(vs) != 1 {
			return p, fmt.Errorf("parameter %q given %d times", name, len(vs))
		}
		if err := check(&p, vs[0]); err != nil {
			return p, err
		}
	}
	if p.Type != "" && p.View != "" && p.View != "namespaces" {
		return p, fmt.Errorf("type filters namespaces, not the %s view", p.View)
	}
	return p, nil
}

// printable rejects invalid UTF-8 and control characters.
func printable(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

// clip shortens a value quoted back in an error message.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	i := 64
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// asset is an embedded file ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// loadAssets reads every embedded asset once; the handler serves them
// from memory with a content-hash ETag (embed.FS has no modification
// times for http.FileServer to use).
func loadAssets() (map[string]asset, error) {
	m := make(map[string]asset)
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "assets/index.html" {
			return err // the page is served rendered, at "/"
		}
		b, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		m["/"+p] = asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return m, err
}

// indexTmpl is parsed on first use, not in the package's init: every
// nsagent command (a launch, an lsns) links this package and would pay
// the parse (0.23 ms here, under GODEBUG=inittrace=1) before main.
var indexTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.ParseFS(assetFS, "assets/index.html"))
})

// UIHandler serves the page at "/" and its assets under "/assets/". It
// serves nothing else: the API and /metrics are other handlers on the same
// server.
func UIHandler(opts UIOptions) http.Handler {
	assets, err := loadAssets()
	if err != nil {
		// The assets are compiled in; failing to read them is a build bug.
		panic(fmt.Sprintf("web: read embedded assets: %v", err))
	}
	if opts.APIPrefix == "" {
		opts.APIPrefix = "/api/v1"
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Second
	}
	return &uiHandler{opts: opts, assets: assets}
}

type uiHandler struct {
	opts   UIOptions
	assets map[string]asset
}

func (h *uiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		pageError(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		return
	}
	if r.URL.Path == "/" {
		h.serveIndex(w, r)
		return
	}
	a, ok := h.assets[r.URL.Path]
	if !ok {
		pageError(w, http.StatusNotFound, "no such page: %s", clip(r.URL.Path))
		return
	}
	if r.URL.RawQuery != "" {
		pageError(w, http.StatusBadRequest, "assets take no parameters")
		return
	}
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("ETag", a.etag)
	// Revalidate each time: the binary may have been replaced by a newer
	// one, and the ETag makes revalidation a 304.
	hdr.Set("Cache-Control", "no-cache")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(a.body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(a.body)
}

func (h *uiHandler) serveIndex(w http.ResponseWriter, r *http.Request) {
	p, err := ParsePageParams(r.URL.RawQuery)
	if err != nil {
		status := http.StatusBadRequest
		if len(r.URL.RawQuery) > MaxRawQuery {
			status = http.StatusRequestURITooLong
		}
		pageError(w, status, "%v", err)
		return
	}
	refresh := int(h.opts.Refresh / time.Second)
	if refresh < 1 {
		refresh = 1
	}
	if p.Refresh >= 0 {
		refresh = p.Refresh
	}
	var buf bytes.Buffer
	err = indexTmpl().Execute(&buf, map[string]any{
		"API":     h.opts.APIPrefix,
		"Redact":  h.opts.RedactCmdline,
		"Refresh": refresh,
	})
	if err != nil {
		pageError(w, http.StatusInternalServerError, "render page: %v", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(buf.Bytes())
}

// pageError writes a one-line plain-text error. The message may quote the
// request, so it is never sent as HTML.
func pageError(w http.ResponseWriter, status int, format string, a ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Del("ETag")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%d %s: %s\n", status, http.StatusText(status), fmt.Sprintf(format, a...))
}

package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/nsagent/nsagent/internal/testutil"
	"github.com/nsagent/nsagent/inventory"
	"github.com/nsagent/nsagent/inventory/containers"
	"github.com/nsagent/nsagent/inventory/lsns"
)

// liveAPI stands in for the JSON API of `nsagent serve` (web/api.go, built
// on another branch): it serves the same four documents the CLI prints
// (tree -o json, lsns -J --output-all, containers -o json, cgroups -o
// json) from one real scan of the host, rescanned when older than maxAge.
type liveAPI struct {
	redact bool
	// nsTree serves namespaces as plain `lsns -J` does (default columns,
	// nested by process) instead of `lsns -J -l --output-all`.
	nsTree bool
	maxAge time.Duration

	mu      sync.Mutex
	scanned time.Time
	docs    map[string][]byte
	// requests counts each document's requests, so a test can wait for
	// the page's next live update.
	requests map[string]int
}

func newLiveAPI() *liveAPI {
	return &liveAPI{maxAge: 500 * time.Millisecond, requests: map[string]int{}}
}

func (a *liveAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/api/v1/")
	a.mu.Lock()
	defer a.mu.Unlock()
	if time.Since(a.scanned) > a.maxAge {
		docs, err := scanDocs(a.redact, a.nsTree)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a.docs, a.scanned = docs, time.Now()
	}
	b, ok := a.docs[name]
	if !ok {
		http.Error(w, "no such document", http.StatusNotFound)
		return
	}
	a.requests[name]++
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (a *liveAPI) count(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests[name]
}

// scanDocs builds the four API documents the way cmd/nsagent builds its
// JSON outputs, from a single scan.
func scanDocs(redact, nsTree bool) (map[string][]byte, error) {
	fields := inventory.FieldDetails | inventory.FieldSecurity | inventory.FieldCgroupRefs | inventory.FieldCgroupTree |
		inventory.FieldFDs | inventory.FieldMounts | inventory.FieldNSRelations
	sc, err := inventory.NewScanner(inventory.Options{Paths: inventory.DefaultPaths, Fields: fields})
	if err != nil {
		return nil, err
	}
	snap, err := sc.Scan(context.Background())
	if err != nil {
		return nil, err
	}
	res, err := containers.Discover(snap, containers.Options{Procfs: "/proc", Rootfs: "/", NsagentState: "/run/nsagent"})
	if err != nil {
		return nil, err
	}
	docs := map[string][]byte{}
	put := func(name string, v any) error {
		b, err := json.Marshal(v)
		docs[name] = b
		return err
	}
	tree, cts := snap.Tree(), res.Containers
	if redact {
		tree, cts = RedactTree(tree), RedactContainers(cts, snap)
	}
	if err := put("processes", map[string]any{"processes": tree, "roles": res.Roles, "container_of": res.ContainerOf, "logical_parents": res.LogicalParents}); err != nil {
		return nil, err
	}
	if err := put("containers", map[string]any{"containers": cts, "findings": res.Findings, "errors": res.Errors}); err != nil {
		return nil, err
	}
	nsShape, spec := lsns.TreeNone, ""
	if nsTree {
		nsShape = lsns.TreeProcess
	} else {
		var names []string
		for _, c := range lsns.Columns {
			names = append(names, c.Name)
		}
		spec = strings.Join(names, ",")
	}
	rows, err := lsns.Build(snap, lsns.Filter{}, nsShape, "/proc")
	if err != nil {
		return nil, err
	}
	cols, err := lsns.ParseColumns(spec, lsns.DefaultColumns)
	if err != nil {
		return nil, err
	}
	if docs["namespaces"], err = lsns.JSON(rows, cols); err != nil {
		return nil, err
	}
	if redact {
		if docs["namespaces"], err = RedactLsnsJSON(docs["namespaces"], snap); err != nil {
			return nil, err
		}
	}
	cg, err := inventory.ReadCgroups("/sys/fs/cgroup")
	if err != nil {
		return nil, err
	}
	if err := put("cgroups", cg); err != nil {
		return nil, err
	}
	return docs, nil
}

// serve starts the page and api on a loopback port.
func serve(t *testing.T, opts UIOptions, api http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", api)
	mux.Handle("/", UIHandler(opts))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// browser is one headless Chromium tab with the page's console errors,
// uncaught exceptions and JavaScript dialogs recorded.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	problems []string // console errors and exceptions
	dialogs  []string
}

// newBrowser starts headless Chromium in a fresh profile. The flags keep
// it from reaching for the network (which is closed here) on its own.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := testutil.RequireCommand(t, "chromium")
	// Not t.TempDir: Chromium may still be writing its profile for a
	// moment after it is told to close, so the removal retries.
	dir, err := os.MkdirTemp("", "nsagent-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1400, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	b := &browser{ctx: ctx}
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx)
		cancelT()
		cancelC()
		cancelA()
		for i := 0; i < 50; i++ {
			if err := os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("remove chromium profile %s", dir)
	})
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if os.Getenv("NSAGENT_CONSOLE") != "" {
				for _, a := range ev.Args {
					fmt.Println("console:", string(a.Value))
				}
			}
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.problems = append(b.problems, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			b.problems = append(b.problems, "exception: "+msg)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.LevelError || ev.Entry.Level == log.LevelWarning {
				b.problems = append(b.problems, "log "+string(ev.Entry.Level)+": "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		case *page.EventJavascriptDialogOpening:
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			go func() { _ = chromedp.Run(ctx, page.HandleJavaScriptDialog(false)) }()
		}
	})
	if err := chromedp.Run(ctx, log.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) run(t *testing.T, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression into out.
func (b *browser) eval(t *testing.T, expr string, out any) {
	t.Helper()
	b.run(t, chromedp.Evaluate(expr, out))
}

// waitJS polls expr until it is true, or fails the test with what the
// page showed.
func (b *browser) waitJS(t *testing.T, what, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		if err := chromedp.Run(b.ctx, chromedp.Evaluate("!!("+expr+")", &ok)); err != nil {
			t.Fatalf("wait for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var text string
			_ = chromedp.Run(b.ctx, chromedp.Evaluate(`(document.getElementById('banner').innerText + '\n' + document.getElementById('status-text').textContent)`, &text))
			t.Fatalf("timed out after %s waiting for %s; page says: %s", timeout, what, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkClean fails the test if the page logged an error or opened a
// dialog.
func (b *browser) checkClean(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("page problem: %s", p)
	}
	for _, d := range b.dialogs {
		t.Errorf("page opened a dialog: %s", d)
	}
}

// screenshot saves a PNG of the page to $NSAGENT_SCREENSHOT_DIR (or the
// test's temporary directory) and returns its path.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	var png []byte
	b.run(t, chromedp.CaptureScreenshot(&png))
	dir := os.Getenv("NSAGENT_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatalf("write screenshot: %v", err)
	}
	t.Logf("screenshot: %s", p)
	return p
}

// evalAsync evaluates an expression that returns a promise.
func (b *browser) evalAsync(t *testing.T, expr string, out any) {
	t.Helper()
	b.run(t, chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
}

// scrollToRow scrolls the tree the way a person would, a screen at a
// time, until the row of pid is drawn (rows are drawn only near the
// viewport). It reports whether the row exists.
func (b *browser) scrollToRow(t *testing.T, pid int) bool {
	t.Helper()
	var found bool
	b.evalAsync(t, fmt.Sprintf(`(async () => {
		const tree = document.getElementById('tree');
		const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
		const sel = '#tree .row[data-pid="%d"]';
		for (let top = 0; ; top += Math.max(1, tree.clientHeight - 48)) {
			tree.scrollTop = top;
			await frame();
			const row = document.querySelector(sel);
			if (row) { row.scrollIntoView({block: 'center'}); await frame(); return true; }
			if (top > tree.scrollHeight) return false;
		}
	})()`, pid), &found)
	return found
}

// logicalChain returns pid's ancestors in the logical tree, root first,
// from the API's processes document.
func logicalChain(t *testing.T, srvURL string, pid int) []int {
	t.Helper()
	resp, err := http.Get(srvURL + "/api/v1/processes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Processes      []*inventory.TreeNode `json:"processes"`
		LogicalParents map[int]int           `json:"logical_parents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	parent := map[int]int{}
	var walk func(n *inventory.TreeNode)
	walk = func(n *inventory.TreeNode) {
		parent[n.PID] = n.PPID
		for _, c := range n.Children {
			walk(c)
		}
	}
	for _, r := range doc.Processes {
		walk(r)
	}
	for p, lp := range doc.LogicalParents {
		if lp != 0 {
			parent[p] = lp
		}
	}
	var chain []int
	for p, ok := parent[pid]; ok && p != 0; p, ok = parent[p] {
		if _, known := parent[p]; !known {
			break
		}
		chain = append([]int{p}, chain...)
	}
	return chain
}

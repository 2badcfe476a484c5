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
)

// serve starts the page and a test API on a loopback port: only for a
// synthetic document no real host has (the 5,000-process render); every
// other browser test runs against `nsagent serve` (startServe).
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

// clickRow clicks sel, an element inside a tree row or card that the
// page's live refresh may re-render between chromedp finding the node and
// clicking it ("Could not find node with given id"): the click is tried
// again on the element as it is then, up to three times.
func (b *browser) clickRow(t *testing.T, sel string) {
	t.Helper()
	var err error
	for i := 0; i < 3; i++ {
		if err = chromedp.Run(b.ctx, chromedp.Click(sel, chromedp.ByQuery)); err == nil || !strings.Contains(err.Error(), "Could not find node") {
			break
		}
	}
	if err != nil {
		t.Fatalf("browser: click %s: %v", sel, err)
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

package web

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nsagent/nsagent/internal/testutil"
)

// TestBrowserLoads opens every view of the page `nsagent serve` serves on
// the live host and checks it renders its data without a console error,
// an exception or a CSP violation (Chromium reports those on the console).
func TestBrowserLoads(t *testing.T) {
	testutil.RequireRoot(t)
	// One scan for the whole test (a later flag wins), so the page and the
	// test compare the same document.
	srv := startServe(t, "--scan.min-interval=1h")
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(srv.URL+"/"))
	b.waitJS(t, "process rows", `document.querySelectorAll('#tree .row').length > 10`, 30*time.Second)
	var pid1 bool
	b.eval(t, `!!document.querySelector('#tree .row[data-pid="1"]')`, &pid1)
	if !pid1 {
		t.Errorf("the tree has no row for PID 1")
	}
	for _, v := range []struct{ name, ready string }{
		// At least the initial namespace of each type the kernel has.
		{"namespaces", `document.querySelectorAll('#nstable tr.nsrow').length >= 7`},
		{"containers", `document.querySelector('#ctlist .card') ? !/n\/a/.test(document.querySelector('#ctlist .card .meter[aria-label="memory"] .mtext').textContent) : document.querySelector('#ctlist').children.length > 0`},
		{"cgroups", `document.querySelectorAll('#cgtable tr.cgrow').length > 0`},
		{"tree", `document.querySelectorAll('#tree .row').length > 10`},
	} {
		b.run(t, chromedp.Click("#tab-"+v.name, chromedp.ByID))
		b.waitJS(t, v.name+" view", v.ready, 30*time.Second)
		var visible bool
		b.eval(t, `!document.getElementById('view-`+v.name+`').hidden && location.search.indexOf('`+v.name+`') >= 0 || '`+v.name+`' === 'tree'`, &visible)
		if !visible {
			t.Errorf("%s tab: view not shown or URL not updated", v.name)
		}
		b.screenshot(t, "view-"+v.name+".png")
	}
	// Every namespace of the document the page asked for has its row.
	var rows, want int
	b.run(t, chromedp.Click("#tab-namespaces", chromedp.ByID))
	b.eval(t, `document.querySelectorAll('#nstable tr.nsrow').length`, &rows)
	b.evalAsync(t, `fetch('/api/v1/namespaces?output=all&tree=none').then((r) => r.json()).then((d) => {
		let n = 0;
		const walk = (l) => { for (const x of l || []) { n++; walk(x.children); } };
		walk(d.namespaces);
		return n;
	})`, &want)
	if rows != want || rows == 0 {
		t.Errorf("namespaces view has %d rows, the document %d namespaces", rows, want)
	}
	b.checkClean(t)
}

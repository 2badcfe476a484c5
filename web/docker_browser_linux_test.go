package web

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/nsagent/nsagent/internal/testutil"
)

// statusPPID reads a process's parent from /proc/<pid>/status.
func statusPPID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatalf("no PPid in /proc/%d/status", pid)
	return 0
}

// nsInode reads the inode of one of a process's namespaces.
func nsInode(t *testing.T, pid int, typ string) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, typ))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(strings.TrimPrefix(l, typ+":["), "]")
}

// TestBrowserDockerContainer starts a Docker container and follows it
// through the page of a real `nsagent serve` the way the tutorial follows it with ps fxa and lsns:
// its init under its shim in the logical chain with the namespaces it
// entered, collapsing and expanding down to it, a live update that keeps
// it open, the search, and deep links to the process, the namespace and
// the container.
func TestBrowserDockerContainer(t *testing.T) {
	testutil.RequireRoot(t)
	image := testutil.DockerImage(t)
	id := testutil.DockerRun(t, "--label", "nsagent-test=1", "--memory", "64m", "--pids-limit", "50", image, "sleep", "600")
	initPID, err := strconv.Atoi(strings.TrimSpace(testutil.Run(t, "docker", "inspect", "-f", "{{.State.Pid}}", id)))
	if err != nil || initPID == 0 {
		t.Fatalf("container init pid: %v", err)
	}
	shimPID := statusPPID(t, initPID)
	name := strings.TrimPrefix(strings.TrimSpace(testutil.Run(t, "docker", "inspect", "-f", "{{.Name}}", id)), "/")

	srv := startServe(t)
	b := newBrowser(t)
	row := fmt.Sprintf(`#tree .row[data-pid="%d"]`, initPID)

	// A deep link to the init's pid opens the logical tree on it, selected.
	b.run(t, chromedp.Navigate(fmt.Sprintf("%s/?logical=1&pid=%d&refresh=1", srv.URL, initPID)))
	b.waitJS(t, "the container init's row, selected", `document.querySelector('`+row+`.sel')`, 60*time.Second)
	var got struct {
		Parent   string   `json:"parent"`
		NS       []string `json:"ns"`
		Role     string   `json:"role"`
		Ct       string   `json:"ct"`
		ShimRole string   `json:"shimRole"`
		Details  string   `json:"details"`
	}
	b.eval(t, `(() => {
		const r = document.querySelector('`+row+`');
		const shim = document.querySelector('#tree .row[data-pid="`+strconv.Itoa(shimPID)+`"]');
		return {
			parent: r.dataset.parent,
			ns: Array.from(r.querySelectorAll('.b-ns')).map((b) => b.dataset.nsType),
			role: (r.querySelector('.b-role') || {}).textContent || '',
			ct: (r.querySelector('.b-ct') || {}).textContent || '',
			shimRole: shim ? ((shim.querySelector('.b-role') || {}).textContent || '') : 'no shim row',
			details: document.getElementById('details').innerText,
		};
	})()`, &got)
	if got.Parent != strconv.Itoa(shimPID) {
		t.Errorf("container init %d is drawn under %s, want under its shim %d", initPID, got.Parent, shimPID)
	}
	if got.ShimRole != "shim" {
		t.Errorf("shim %d role badge = %q, want shim", shimPID, got.ShimRole)
	}
	for _, typ := range []string{"mnt", "net", "pid", "uts", "ipc"} {
		if !contains(got.NS, typ) {
			t.Errorf("container init has namespace badges %v, missing +%s", got.NS, typ)
		}
	}
	if got.Role != "container-init" || got.Ct != name {
		t.Errorf("container init badges: role %q container %q, want container-init %q", got.Role, got.Ct, name)
	}
	if !strings.Contains(got.Details, "pid "+strconv.Itoa(initPID)) || !strings.Contains(got.Details, nsInode(t, initPID, "net")) {
		t.Errorf("details panel does not describe pid %d and its net namespace:\n%s", initPID, got.Details)
	}
	shot := b.screenshot(t, "tree-docker-container.png")
	if out := os.Getenv("NSAGENT_SCREENSHOT_COPY"); out != "" {
		if data, err := os.ReadFile(shot); err == nil {
			_ = os.WriteFile(out, data, 0o644)
		}
	}

	// Collapse everything: the init is gone; expand its ancestors one by
	// one, by clicking their twisties, and it is back.
	chain := logicalChain(t, srv.URL, initPID)
	if len(chain) < 2 || chain[len(chain)-1] != shimPID {
		t.Fatalf("logical chain to %d = %v, want it to end at the shim %d", initPID, chain, shimPID)
	}
	b.run(t, chromedp.Click("#collapse-all", chromedp.ByID))
	if b.scrollToRow(t, initPID) {
		t.Fatalf("after collapse all, the container init is still shown")
	}
	for _, p := range chain {
		if !b.scrollToRow(t, p) {
			t.Fatalf("ancestor %d of the container init not shown after expanding %v", p, chain)
		}
		b.clickRow(t, fmt.Sprintf(`#tree .row[data-pid="%d"] .tw`, p))
	}
	if !b.scrollToRow(t, initPID) {
		t.Fatalf("the container init is not shown after expanding its ancestors %v", chain)
	}
	b.clickRow(t, row+" .cmd")

	// Live updates (every second here) keep it open, selected and where
	// it was on screen.
	var before struct {
		Updates int     `json:"updates"`
		Top     float64 `json:"top"`
	}
	b.eval(t, `({updates: +document.body.dataset.updates, top: document.querySelector('`+row+`').getBoundingClientRect().top})`, &before)
	b.waitJS(t, "two live updates", fmt.Sprintf(`+document.body.dataset.updates >= %d`, before.Updates+2), 30*time.Second)
	var after struct {
		Shown    bool    `json:"shown"`
		Sel      bool    `json:"sel"`
		Top      float64 `json:"top"`
		Expanded string  `json:"expanded"`
	}
	b.eval(t, `(() => {
		const r = document.querySelector('`+row+`');
		const shim = document.querySelector('#tree .row[data-pid="`+strconv.Itoa(shimPID)+`"]');
		return {shown: !!r, sel: !!r && r.classList.contains('sel'), top: r ? r.getBoundingClientRect().top : -1,
			expanded: shim ? shim.getAttribute('aria-expanded') : 'no shim row'};
	})()`, &after)
	if !after.Shown || !after.Sel || after.Expanded != "true" || after.Top != before.Top {
		t.Errorf("after two live updates: init shown %v, selected %v, at %vpx (was %vpx), shim expanded %s",
			after.Shown, after.Sel, after.Top, before.Top, after.Expanded)
	}

	// The search keeps the matches and their ancestors.
	b.run(t, chromedp.Click("#collapse-all", chromedp.ByID))
	b.run(t, chromedp.SendKeys("#q", "sleep", chromedp.ByID))
	b.waitJS(t, "the search for sleep in the URL", `location.search.indexOf('q=sleep') >= 0`, 10*time.Second)
	checkSearch := func(what string) {
		t.Helper()
		if !b.scrollToRow(t, initPID) {
			t.Fatalf("%s: the container init (sleep) is not among the results", what)
		}
		var res struct {
			Match, Shim bool
			Bad         []string
		}
		b.eval(t, `(() => {
			const r = document.querySelector('`+row+`');
			const rows = Array.from(document.querySelectorAll('#tree .row'));
			return {
				Match: r.classList.contains('match'),
				Shim: !!document.querySelector('#tree .row[data-pid="`+strconv.Itoa(shimPID)+`"]'),
				Bad: rows.filter((x) => !x.classList.contains('match') && !x.classList.contains('ctx')).map((x) => x.dataset.pid),
			};
		})()`, &res)
		if !res.Match || !res.Shim || len(res.Bad) > 0 {
			t.Errorf("%s: init marked as a match %v, its shim shown %v, rows neither match nor ancestor %v", what, res.Match, res.Shim, res.Bad)
		}
	}
	checkSearch("typing sleep")
	b.run(t, chromedp.Navigate(srv.URL+"/?logical=1&q=sleep"))
	b.waitJS(t, "rows", `document.querySelectorAll('#tree .row').length > 0`, 60*time.Second)
	checkSearch("deep link ?q=sleep")
	var q string
	b.eval(t, `document.getElementById('q').value`, &q)
	if q != "sleep" {
		t.Errorf("deep link ?q=sleep: search box holds %q", q)
	}

	// A deep link to its net namespace opens it with the init as member.
	netNS := nsInode(t, initPID, "net")
	b.run(t, chromedp.Navigate(srv.URL+"/?view=namespaces&ns="+netNS))
	b.waitJS(t, "the open namespace", `document.querySelector('#nstable tr.nsrow.open[data-ns="`+netNS+`"]')`, 60*time.Second)
	var members string
	b.eval(t, `document.querySelector('#nstable tr.nsdetail').innerText`, &members)
	if !strings.Contains(members, strconv.Itoa(initPID)) || !strings.Contains(members, "sleep 600") {
		t.Errorf("net namespace %s detail does not list the init %d:\n%s", netNS, initPID, members)
	}

	// A deep link to the container shows its card with the memory limit.
	b.run(t, chromedp.Navigate(srv.URL+"/?container="+id[:12]))
	card := `#ctlist .card.sel[data-container="` + id + `"]`
	b.waitJS(t, "the container's card", `document.querySelector('`+card+`')`, 60*time.Second)
	var memMax string
	b.eval(t, `document.querySelector('`+card+` .meter[aria-label="memory"]').getAttribute('aria-valuemax')`, &memMax)
	if memMax != strconv.Itoa(64<<20) {
		t.Errorf("memory meter of the container: limit %s, want %d", memMax, 64<<20)
	}
	// Its subtree link leads back to the init in the logical tree.
	b.clickRow(t, card+" a.subtree")
	b.waitJS(t, "the init selected from the container's link", `document.querySelector('`+row+`.sel')`, 60*time.Second)

	// Keyboard: from the selected init, Left goes to the shim; Left on an
	// open node closes it.
	b.run(t, chromedp.Focus("#tree", chromedp.ByID), chromedp.KeyEvent(kb.ArrowLeft))
	b.waitJS(t, "the shim selected by the keyboard", `document.querySelector('#tree .row.sel[data-pid="`+strconv.Itoa(shimPID)+`"]')`, 5*time.Second)
	b.run(t, chromedp.KeyEvent(kb.ArrowLeft))
	b.waitJS(t, "the shim closed by the keyboard", `document.querySelector('#tree .row.sel[data-pid="`+strconv.Itoa(shimPID)+`"][aria-expanded="false"]') && !document.querySelector('`+row+`')`, 5*time.Second)

	b.checkClean(t)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

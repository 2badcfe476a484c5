package web

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nsagent/nsagent/internal/testutil"
)

// startArgv0 starts `sleep 600` with the given argv[0] (bash's exec -a)
// and returns its pid; the test kills it by that pid when it ends.
func startArgv0(t *testing.T, argv0 string, args ...string) *exec.Cmd {
	t.Helper()
	testutil.RequireCommand(t, "bash")
	script := `exec -a "$0" sleep 600 "$@"`
	cmd := exec.Command("bash", append([]string{"-c", script, argv0}, args...)...)
	return testutil.Start(t, cmd)
}

// TestBrowserHostileCommandLine runs a process whose argv[0] is markup and
// checks the page shows it as literal text, in the tree and in the
// details, and runs nothing: no dialog, no element made from it.
func TestBrowserHostileCommandLine(t *testing.T) {
	testutil.RequireRoot(t)
	const evil = `<img src=x onerror=alert(1)>`
	cmd := startArgv0(t, evil)
	pid := cmd.Process.Pid
	srv := startServe(t)
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(fmt.Sprintf("%s/?q=onerror&pid=%d", srv.URL, pid)))
	row := fmt.Sprintf(`#tree .row[data-pid="%d"]`, pid)
	b.waitJS(t, "the hostile process's row", `document.querySelector('`+row+`')`, 60*time.Second)
	// Let an injected handler have its chance to run.
	time.Sleep(500 * time.Millisecond)
	var got struct {
		Cmd, Argv string
		Imgs      int
	}
	b.eval(t, `({
		Cmd: document.querySelector('`+row+` .cmd').textContent,
		Argv: (document.querySelector('#details .argv li') || {}).textContent || '',
		Imgs: document.querySelectorAll('img, [onerror]').length,
	})`, &got)
	if !strings.HasPrefix(got.Cmd, evil) || got.Argv != evil {
		t.Errorf("hostile argv[0] not shown as text: row %q, details %q", got.Cmd, got.Argv)
	}
	if got.Imgs != 0 {
		t.Errorf("the page has %d img or onerror elements; the command line became markup", got.Imgs)
	}
	b.checkClean(t)
}

// TestBrowserRedactedCommandLine checks that with --web.redact-cmdline
// the page shows process names only.
func TestBrowserRedactedCommandLine(t *testing.T) {
	testutil.RequireRoot(t)
	cmd := startArgv0(t, "nsagent-secret-argv0", "nsagent-secret-arg")
	pid := cmd.Process.Pid
	srv := startServe(t, "--web.redact-cmdline")
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(fmt.Sprintf("%s/?pid=%d", srv.URL, pid)))
	b.waitJS(t, "the process's row", fmt.Sprintf(`document.querySelector('#tree .row.sel[data-pid="%d"]')`, pid), 60*time.Second)
	var text string
	b.eval(t, `document.body.innerText + document.getElementById('tree').innerHTML + document.getElementById('details').innerHTML`, &text)
	if strings.Contains(text, "nsagent-secret") {
		t.Errorf("redacted page shows the command line")
	}
	if !strings.Contains(text, "sleep") || !strings.Contains(text, "command lines redacted") {
		t.Errorf("redacted page should show the name sleep and say command lines are redacted")
	}
	// A search for an argument finds nothing: arguments are not searched.
	b.run(t, chromedp.Navigate(srv.URL+"/?q=nsagent-secret"))
	b.waitJS(t, "the search result count", `/^0 matching/.test(document.getElementById('tree-count').textContent)`, 60*time.Second)
	b.checkClean(t)
}

// TestBrowserLiveMarks checks that a process started after the page
// loaded is marked new at the next update, and one that ended is marked
// ended, while the rest of the tree stays.
func TestBrowserLiveMarks(t *testing.T) {
	testutil.RequireRoot(t)
	srv := startServe(t)
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(srv.URL+"/?q=nsagent-live-marker&refresh=1"))
	b.waitJS(t, "the first update", `+document.body.dataset.updates >= 1`, 60*time.Second)
	cmd := startArgv0(t, "nsagent-live-marker")
	pid := cmd.Process.Pid
	row := fmt.Sprintf(`#tree .row[data-pid="%d"]`, pid)
	b.waitJS(t, "the new process marked new", `document.querySelector('`+row+`.is-new .b-new')`, 30*time.Second)
	b.waitJS(t, "the new mark gone the update after", `document.querySelector('`+row+`:not(.is-new)')`, 30*time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	b.waitJS(t, "the ended process marked ended", `document.querySelector('`+row+`.is-ended .b-ended')`, 30*time.Second)
	b.waitJS(t, "the ended process gone the update after", `!document.querySelector('`+row+`')`, 30*time.Second)
	b.checkClean(t)
}

// TestBrowserNarrowWindow checks the page fits a phone-width window: no
// horizontal scrolling of the page, the details under the tree.
func TestBrowserNarrowWindow(t *testing.T) {
	testutil.RequireRoot(t)
	srv := startServe(t)
	b := newBrowser(t)
	b.run(t, chromedp.EmulateViewport(400, 800), chromedp.Navigate(srv.URL+"/?pid=1"))
	b.waitJS(t, "pid 1 selected", `document.querySelector('#tree .row.sel[data-pid="1"]')`, 60*time.Second)
	var got struct {
		Overflow        bool
		DetailsBelow    bool
		UserColumnShown bool
	}
	b.eval(t, `(() => {
		const tree = document.getElementById('tree').getBoundingClientRect();
		const det = document.getElementById('details').getBoundingClientRect();
		const user = document.querySelector('#tree .row .c-user');
		return {
			Overflow: document.documentElement.scrollWidth > window.innerWidth,
			DetailsBelow: det.top >= tree.bottom - 1,
			UserColumnShown: user.getBoundingClientRect().width > 0,
		};
	})()`, &got)
	if got.Overflow || !got.DetailsBelow || got.UserColumnShown {
		t.Errorf("narrow window: page overflows %v, details below the tree %v, user column shown %v", got.Overflow, got.DetailsBelow, got.UserColumnShown)
	}
	b.screenshot(t, "narrow.png")
	b.checkClean(t)
}

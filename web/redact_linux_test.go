package web

import (
	"bytes"
	"os/exec"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
)

// TestRedactDocuments runs a process with a secret in its arguments, alone
// in a new UTS namespace (so lsns names it as that namespace's process),
// and checks that a real `nsagent serve --web.redact-cmdline` holds the
// secret in none of its API documents, while one without the flag does.
func TestRedactDocuments(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "unshare")
	const secret = "nsagent-secret-7f3a"
	testutil.Start(t, exec.Command("unshare", "--uts", "--", "bash", "-c", `exec -a "$0" sleep 600 "$1"`, secret+"-argv0", "1"))
	time.Sleep(200 * time.Millisecond) // let bash exec sleep
	docs := []string{
		"/api/v1/processes", "/api/v1/containers", "/api/v1/cgroups",
		"/api/v1/namespaces", "/api/v1/namespaces?output=all&tree=none", "/api/v1/namespaces?type=uts&output=all",
		"/", "/?pid=1",
	}
	plain, red := startServe(t), startServe(t, "--web.redact-cmdline")
	for _, p := range []string{"/api/v1/processes", "/api/v1/namespaces", "/api/v1/namespaces?output=all&tree=none"} {
		if code, body := plain.get(t, p); code != 200 || !bytes.Contains(body, []byte(secret)) {
			t.Fatalf("unredacted GET %s: %d, secret shown %v: the test would prove nothing", p, code, bytes.Contains(body, []byte(secret)))
		}
	}
	for _, p := range docs {
		code, body := red.get(t, p)
		if code != 200 {
			t.Errorf("redacted GET %s: %d %.200s", p, code, body)
		}
		if bytes.Contains(body, []byte(secret)) {
			t.Errorf("redacted GET %s holds the command line", p)
		}
	}
	if _, body := red.get(t, "/api/v1/processes"); !bytes.Contains(body, []byte(`"comm": "sleep"`)) {
		t.Errorf("redacted processes document lost the process names")
	}
}

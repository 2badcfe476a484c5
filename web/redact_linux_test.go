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
// and checks the redacted documents hold the secret nowhere while the
// unredacted ones do.
func TestRedactDocuments(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "unshare")
	const secret = "nsagent-secret-7f3a"
	testutil.Start(t, exec.Command("unshare", "--uts", "--", "bash", "-c", `exec -a "$0" sleep 600 "$1"`, secret+"-argv0", "1"))
	time.Sleep(200 * time.Millisecond) // let bash exec sleep
	for _, nsTree := range []bool{false, true} {
		plain, err := scanDocs(false, nsTree)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"processes", "namespaces"} {
			if !bytes.Contains(plain[name], []byte(secret)) {
				t.Fatalf("unredacted %s document (nested %v) lacks the secret: the test would prove nothing", name, nsTree)
			}
		}
		red, err := scanDocs(true, nsTree)
		if err != nil {
			t.Fatal(err)
		}
		for name, doc := range red {
			if bytes.Contains(doc, []byte(secret)) {
				t.Errorf("redacted %s document (nested %v) holds the command line", name, nsTree)
			}
		}
		if !bytes.Contains(red["processes"], []byte(`"comm":"sleep"`)) {
			t.Errorf("redacted processes document lost the process names")
		}
	}
}

package launcher

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nsagent/nsagent/internal/testutil"
)

// TestHardenSealedSelf: whichever way the binary was sealed, the
// path SealedSelf gives cannot be opened for writing, names no host
// file, and shows the same bytes as the running binary.
func TestHardenSealedSelf(t *testing.T) {
	testutil.RequireRoot(t)
	p, err := SealedSelf(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sealed by %s", SealedKind)
	if SealedKind != "overlay" {
		if _, err := overlaySelf(t.TempDir()); err != nil {
			t.Errorf("overlay: %v", err)
		}
	}
	self, _ := os.Readlink("/proc/self/exe")
	if got, _ := os.Readlink(p); got == self {
		t.Errorf("sealed path %s is the host binary %s", p, got)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		_, err = f.Write([]byte("x"))
		f.Close()
	}
	if err == nil || !(errors.Is(err, unix.EROFS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.ETXTBSY)) {
		t.Errorf("writing the sealed binary: %v, want EROFS or EPERM", err)
	}
	a, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/self/exe")
	if len(a) != len(b) || !strings.EqualFold(string(a[:64]), string(b[:64])) {
		t.Errorf("sealed binary differs from the running one")
	}
}

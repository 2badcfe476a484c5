package launcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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

// TestSealedFDAboveChildFDs: a sealed binary opened on a low fd (as when
// the init is forked before the launcher has opened anything else) is
// moved above the fds a child gets dup2'ed onto before the execve that
// resolves /proc/self/fd/N; left at 3 or 4, the init exec'd its sync
// socket and failed with EACCES.
func TestSealedFDAboveChildFDs(t *testing.T) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	low := -1
	for fd := sealedMinFD - 1; fd >= 3; fd-- {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); errors.Is(err, unix.EBADF) {
			low = fd
			break
		}
	}
	if low < 0 {
		t.Fatalf("no free fd below %d to put the file on", sealedMinFD)
	}
	if err := unix.Dup3(int(f.Fd()), low, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	f.Close()
	moved, err := aboveChildFDs(os.NewFile(uintptr(low), "low"))
	if err != nil {
		t.Fatal(err)
	}
	defer moved.Close()
	if moved.Fd() < sealedMinFD {
		t.Errorf("fd %d, want %d or above", moved.Fd(), sealedMinFD)
	}
	if _, err := unix.FcntlInt(uintptr(low), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("fd %d left open", low)
	}
	if fl, err := unix.FcntlInt(moved.Fd(), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("moved fd flags %#x, %v: want close-on-exec", fl, err)
	}
	if target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(moved.Fd()))); target != selfPath(t) {
		t.Errorf("moved fd names %q, want the binary", target)
	}
}

func selfPath(t *testing.T) string {
	p, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSealedSelfDetachedLayer: with the empty directory inside the
// binary's own directory (a binary and --state-dir both under /tmp),
// overlayfs refuses the layers; a detached empty tmpfs as the second
// layer seals the binary through an overlay all the same (kernel 6.15
// and later), read-only and showing the running binary's bytes. An older
// kernel refuses the detached layer, and the sealed copy serves.
func TestSealedSelfDetachedLayer(t *testing.T) {
	testutil.RequireRoot(t)
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(filepath.Dir(self), "sealed-empty-test")
	t.Cleanup(func() { os.Remove(inside) })
	if f, err := overlaySelf(inside); err == nil {
		f.Close()
		t.Errorf("overlay with its empty layer %s inside the binary's directory: no error, want overlayfs's refusal", inside)
	}

	f, err := overlaySelfDetached()
	var u unix.Utsname
	_ = unix.Uname(&u)
	release := unix.ByteSliceToString(u.Release[:])
	if err != nil {
		var major, minor int
		fmt.Sscanf(release, "%d.%d", &major, &minor)
		if major > 6 || major == 6 && minor >= 15 {
			t.Fatalf("detached layer on %s: %v", release, err)
		}
		t.Logf("kernel %s refuses a detached layer (%v): the sealed copy serves", release, err)
		if f, err = sealSelf(); err != nil {
			t.Fatal(err)
		}
	}
	defer f.Close()
	p := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if w, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		_, err = w.Write([]byte("x"))
		w.Close()
		if err == nil {
			t.Errorf("the sealed binary %s took a write", p)
		}
	}
	a, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/self/exe")
	if len(a) != len(b) || string(a[:4096]) != string(b[:4096]) {
		t.Errorf("sealed binary differs from the running one")
	}
}

//go:build !launchonly

package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/nsagent/nsagent/images"
	"github.com/nsagent/nsagent/internal/testutil"
	"github.com/nsagent/nsagent/launcher"
	"github.com/nsagent/nsagent/launcher/nsenter"
)

func TestImageDirDefault(t *testing.T) {
	if defaultImageDir != images.DefaultDir {
		t.Errorf("defaultImageDir = %q, images.DefaultDir = %q", defaultImageDir, images.DefaultDir)
	}
}

// launchUsage is `nsagent launch --help` as this build prints it.
func launchUsage(t *testing.T) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "usage")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = f
	_ = runLaunch([]string{"--help"})
	os.Stderr = saved
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFastlaunchReadsLaunchFlags: the constructor finds launch's ROOTFS
// operand (to keep image launches in the full binary) by skipping flags,
// so it must know which of them take a value. Its list is checked against
// launch's flag set: a flag added to one and not the other fails here.
func TestFastlaunchReadsLaunchFlags(t *testing.T) {
	// "  -d, --detach[=true|false]   ...", "      --name string   ...",
	// and --userns string[="100000:65536"], whose value must follow "=".
	line := regexp.MustCompile(`^\s+(?:-(\w), )?--([\w.-]+)(\[=\S*\])?(?: (\S+))?\s{2,}`)
	n := 0
	for _, l := range strings.Split(launchUsage(t), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n++
		takes := m[3] == "" && m[4] != "" && !strings.Contains(m[4], "[=")
		for _, name := range []string{m[1], m[2]} {
			if name != "" && nsenter.LaunchFlagTakesValue(name) != takes {
				t.Errorf("fastlaunch.c reads -%s as taking a value: %v; launch's flag set says %v (%q)", name, !takes, takes, l)
			}
		}
	}
	if n < 30 {
		t.Fatalf("parsed %d flags from launch's usage, want 30 or more: the usage format changed", n)
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWriteLaunchBinary installs a launch binary in a fresh directory:
// it is there whole, read-only, in a directory only root can enter; one
// whose digest does not match its name is refused and leaves nothing; an
// install removes other builds' binaries and nothing else.
func TestWriteLaunchBinary(t *testing.T) {
	testutil.RequireRoot(t)
	body := []byte("#!/bin/sh\necho launch\n")
	sum := sha256.Sum256(body)
	id := hex.EncodeToString(sum[:])[:16]
	dir := filepath.Join(t.TempDir(), "lib", "launch")

	if err := writeLaunchBinary(dir, launchBinaryPrefix+"0123456789abcdef", gzipped(t, body)); err == nil {
		t.Fatal("a binary whose digest is not its name's was installed")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a refused install left %v", ents)
	}

	for _, n := range []string{launchBinaryPrefix + "feedfacefeedface", "unrelated"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeLaunchBinary(dir, launchBinaryPrefix+id, gzipped(t, body)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, launchBinaryPrefix+id)
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("installed %q (%v), want %q", got, err, body)
	}
	fi, _ := os.Stat(p)
	di, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o555 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes %v (binary) and %v (directory), want 0555 and 0700", fi.Mode(), di.Mode())
	}
	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{launchBinaryPrefix + id, "unrelated"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("directory holds %v, want %v", names, want)
	}

	// A directory others can write is not one the constructor executes
	// from: nothing is installed there.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	if err := writeLaunchBinary(dir, launchBinaryPrefix+id, gzipped(t, body)); err == nil {
		t.Error("installed into a world-writable directory")
	}
}

// initTrace is the package list GODEBUG=inittrace=1 printed on stderr.
func initTrace(stderr string) string {
	var b strings.Builder
	for _, l := range strings.Split(stderr, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "init" {
			b.WriteString(f[1] + "\n")
		}
	}
	return b.String()
}

// TestLaunchUsesLaunchBinary runs launches as users do and tells from the
// package inits Go reports (GODEBUG=inittrace=1) which binary ran them:
// the launch binary for a root filesystem directory once the first launch
// installed it, the full binary with NSAGENT_LAUNCH_BINARY=0 and for an
// image source (tarball:), and the full binary again when the launch
// binary is handed an image the cache does not hold. (TestLaunchImage
// checks a cached image launched by name.)
func TestLaunchUsesLaunchBinary(t *testing.T) {
	e := newE2E(t)
	r := e.run("", "version")
	m := regexp.MustCompile(`launch binary: (\S+)`).FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("nsagent version names no launch binary (a build without it?):\n%s", r.Stdout)
	}
	path := m[1]
	if r := e.run("", "launch", "--rm", "--net", "none", e.rootfs, "/bin/true"); r.Code != 0 {
		t.Fatalf("launch: %d %s", r.Code, r.Stderr)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("a launch as root did not install the launch binary: %v", err)
	}
	di, _ := os.Stat(filepath.Dir(path))
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || fi.Mode().Perm() != 0o555 || di.Mode().Perm() != 0o700 {
		t.Errorf("%s: uid %d, modes %v and %v (directory), want root, 0555 and 0700", path, st.Uid, fi.Mode(), di.Mode())
	}

	const agentPkg, launcherPkg, registryPkg = "github.com/prometheus/client_golang/prometheus\n",
		"github.com/nsagent/nsagent/launcher\n", "github.com/google/go-containerregistry/pkg/name\n"
	trace := func(extraEnv []string, name string, args ...string) (testutil.Result, string) {
		t.Helper()
		env := append(e.env.Env(), "GODEBUG=inittrace=1")
		r := testutil.RunCmd(t, append(env, extraEnv...), "", name, args...)
		return r, initTrace(r.Stderr)
	}
	tree := []string{"launch", "--rm", "--net", "none", "-e", "A=1", "--name", "lb-" + filepath.Base(e.env.CgroupParent), e.rootfs, "/bin/true"}

	r, inits := trace(nil, e.bin, tree...)
	if r.Code != 0 || !strings.Contains(inits, launcherPkg) || strings.Contains(inits, agentPkg) {
		t.Errorf("launch of a directory: status %d, want it run by the launch binary (the launcher's init and not the agent's):\n%s", r.Code, inits)
	}
	r, inits = trace([]string{nsenter.EnvLaunchBinary + "=0"}, e.bin, tree...)
	if r.Code != 0 || !strings.Contains(inits, agentPkg) {
		t.Errorf("launch with %s=0: status %d, want it run by the full binary:\n%s", nsenter.EnvLaunchBinary, r.Code, inits)
	}
	// A launch from an image source, with flags of every spelling before
	// it and a value that is an existing path (-w /tmp): the constructor
	// must find the operand and keep the launch in the full binary, so Go
	// starts once.
	missing := "tarball:" + filepath.Join(t.TempDir(), "missing.tar")
	r, inits = trace(nil, e.bin, "launch", "-w", "/tmp", "-it", "-eA=1", "--name=x", "--net", "none", "--rm", missing, "/bin/true")
	if r.Code != launcher.ExitLaunchError || strings.Count(inits, launcherPkg) != 1 || !strings.Contains(inits, registryPkg) || !strings.Contains(r.Stderr, "missing.tar") {
		t.Errorf("image launch: status %d, want %d from the full binary alone, naming the tarball:\n%s", r.Code, launcher.ExitLaunchError, r.Stderr)
	}

	// The launch binary started as the constructor starts it, with an
	// image the cache does not hold: it goes back to the full binary,
	// which reports the missing tarball.
	r, inits = trace([]string{nsenter.EnvFullBinary + "=" + e.bin}, path, "launch", "--net", "none", missing, "/bin/true")
	if r.Code != launcher.ExitLaunchError || strings.Count(inits, launcherPkg) != 2 || !strings.Contains(inits, registryPkg) || !strings.Contains(r.Stderr, "missing.tar") {
		t.Errorf("launch binary given an image: status %d, want the full binary's refusal after its own start:\n%s", r.Code, r.Stderr)
	}
	// Started by hand, it says it cannot.
	r = testutil.RunCmd(t, e.env.Env(), "", path, "launch", "--net", "none", missing, "/bin/true")
	if r.Code != launcher.ExitLaunchError || !strings.Contains(r.Stderr, "not started by nsagent") {
		t.Errorf("launch binary started by hand with an image: status %d, %q", r.Code, r.Stderr)
	}
	e.assertClean()
}

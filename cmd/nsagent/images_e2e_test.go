//go:build !launchonly

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/nsagent/nsagent/internal/testutil"
)

// imgE2E is an image test's sandbox: a loopback registry holding the
// busybox test image (pushed with docker push), an image cache and a
// launcher sandbox of its own.
type imgE2E struct {
	*e2e
	reg      *testutil.Registry
	cache    string
	busybox  string // REGISTRY/busybox:test
	envExtra []string
}

func newImgE2E(t *testing.T) *imgE2E {
	t.Helper()
	e := &imgE2E{e2e: newE2E(t), reg: testutil.StartRegistry(t), cache: t.TempDir()}
	img := testutil.DockerImage(t)
	e.busybox = e.reg.Addr + "/busybox:test"
	testutil.Run(t, "docker", "tag", img, e.busybox)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", e.busybox).Run() })
	testutil.Run(t, "docker", "push", e.busybox)
	return e
}

func (e *imgE2E) nsagent(args ...string) testutil.Result {
	e.t.Helper()
	env := append(e.env.Env(), "NSAGENT_IMAGE_DIR="+e.cache)
	return testutil.RunCmd(e.t, append(env, e.envExtra...), "", e.bin, args...)
}

// treeEntry is what is compared of one path: type and mode, owner, link
// target, content checksum.
type treeEntry struct {
	Mode     os.FileMode
	UID, GID uint32
	Link     string
	Sum      string
}

// dockerInitPaths are what docker's init layer adds to every container
// (and so to `docker export`), which the image itself does not hold.
var dockerInitPaths = map[string]bool{
	".dockerenv": true, "dev/console": true, "dev/pts": true, "dev/shm": true,
	"etc/hostname": true, "etc/hosts": true, "etc/mtab": true, "etc/resolv.conf": true,
}

func snapshotTree(t *testing.T, dir string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." || dockerInitPaths[rel] {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := treeEntry{Mode: fi.Mode(), UID: st.Uid, GID: st.Gid}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			e.Link, err = os.Readlink(p)
		case fi.Mode().IsRegular():
			var b []byte
			b, err = os.ReadFile(p)
			s := sha256.Sum256(b)
			e.Sum = hex.EncodeToString(s[:])
		}
		out[rel] = e
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffTrees(t *testing.T, want, got map[string]treeEntry) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	n := 0
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		if wok && gok && w == g {
			continue
		}
		if n++; n <= 20 {
			t.Errorf("%s: want %+v (present %v), got %+v (present %v)", k, w, wok, g, gok)
		}
	}
	if n > 0 {
		t.Errorf("%d of %d paths differ", n, len(keys))
	}
}

// TestPullMatchesDockerExport: `nsagent pull REGISTRY/busybox:test DIR`
// lays out the same tree as `docker export` of the same image, path by
// path (type, mode, owner, link target, content); so do a `docker save`
// archive and an OCI layout of it. A second pull downloads no layer.
func TestPullMatchesDockerExport(t *testing.T) {
	e := newImgE2E(t)
	dir := filepath.Join(t.TempDir(), "rootfs")
	r := e.nsagent("pull", e.busybox, dir)
	if r.Code != 0 {
		t.Fatalf("pull: %d %s", r.Code, r.Stderr)
	}
	if !strings.HasPrefix(r.Stdout, e.busybox+": sha256:") {
		t.Errorf("pull printed %q", r.Stdout)
	}

	id := strings.TrimSpace(testutil.Run(t, "docker", "create", e.busybox, "/bin/true"))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	exported := filepath.Join(t.TempDir(), "exported")
	if err := os.Mkdir(exported, 0o755); err != nil {
		t.Fatal(err)
	}
	sh := fmt.Sprintf("docker export %s | tar -C %s --numeric-owner -xpf -", id, exported)
	if out, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", sh, err, out)
	}
	want := snapshotTree(t, exported)
	if len(want) < 100 {
		t.Fatalf("docker export gave only %d paths", len(want))
	}
	diffTrees(t, want, snapshotTree(t, dir))

	blobs := e.reg.Requests(t, "/blobs/sha256:")
	r = e.nsagent("pull", e.busybox, filepath.Join(t.TempDir(), "again"))
	if r.Code != 0 {
		t.Fatalf("second pull: %d %s", r.Code, r.Stderr)
	}
	if n := e.reg.Requests(t, "/blobs/sha256:"); n != blobs {
		t.Errorf("second pull fetched %d blobs, want none", n-blobs)
	}

	t.Run("docker-archive", func(t *testing.T) {
		archive := filepath.Join(t.TempDir(), "busybox.tar")
		testutil.Run(t, "docker", "save", "-o", archive, e.busybox)
		out := filepath.Join(t.TempDir(), "rootfs")
		if r := e.nsagent("pull", "docker-archive:"+archive, out); r.Code != 0 {
			t.Fatalf("pull: %d %s", r.Code, r.Stderr)
		}
		diffTrees(t, want, snapshotTree(t, out))
	})
	t.Run("oci layout", func(t *testing.T) {
		// An OCI image layout of the registry's image, written by
		// go-containerregistry as skopeo copy oci:DIR:TAG would.
		ref, _ := name.ParseReference(e.busybox)
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		lay := t.TempDir()
		p, err := layout.Write(lay, empty.Index)
		if err == nil {
			err = p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "test"}))
		}
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "rootfs")
		if r := e.nsagent("pull", "oci:"+lay+":test", out); r.Code != 0 {
			t.Fatalf("pull: %d %s", r.Code, r.Stderr)
		}
		diffTrees(t, want, snapshotTree(t, out))
	})
	t.Run("plain tarball", func(t *testing.T) {
		tarball := filepath.Join(t.TempDir(), "export.tar")
		testutil.Run(t, "docker", "export", "-o", tarball, id)
		out := filepath.Join(t.TempDir(), "rootfs")
		if r := e.nsagent("pull", tarball, out); r.Code != 0 {
			t.Fatalf("pull: %d %s", r.Code, r.Stderr)
		}
		got := snapshotTree(t, out)
		diffTrees(t, want, got)
	})

	r = e.nsagent("images", "-o", "json")
	var list []imageJSON
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil || r.Code != 0 {
		t.Fatalf("images: %v %d %s", err, r.Code, r.Stderr)
	}
	refs := map[string]bool{}
	for _, im := range list {
		for _, ref := range im.Refs {
			refs[ref] = true
		}
	}
	if !refs[e.busybox] {
		t.Errorf("images lists %v, want %s among them", refs, e.busybox)
	}
	r = e.nsagent("rmi", e.busybox)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Untagged: "+e.busybox) {
		t.Errorf("rmi: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := e.nsagent("images"); strings.Contains(r.Stdout, e.busybox) {
		t.Errorf("images still lists %s after rmi:\n%s", e.busybox, r.Stdout)
	}
}

// TestPullErrors: an unknown tag, a registry that is down and a bad
// reference each give one clear line and exit 1, and cache nothing.
func TestPullErrors(t *testing.T) {
	e := newImgE2E(t)
	down := testutil.FreeLoopbackAddr(t)
	for _, c := range []struct {
		name, ref, want string
	}{
		{"unknown tag", e.reg.Addr + "/busybox:nosuchtag", "not found in the registry"},
		{"unknown repository", e.reg.Addr + "/nosuchrepo:test", "not found in the registry"},
		{"registry down", down + "/busybox:test", "registry " + down + " is not reachable: connection refused"},
		{"bad reference", "Bad!!ref", "invalid image reference"},
		{"missing archive", "docker-archive:/nonexistent.tar", "no such file"},
		{"target not empty", e.busybox, "is not empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rootfs")
			if c.name == "target not empty" {
				if err := os.MkdirAll(filepath.Join(dir, "mine"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			r := e.nsagent("pull", c.ref, dir)
			lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
			if r.Code != 1 || len(lines) != 1 || !strings.Contains(r.Stderr, c.want) {
				t.Errorf("pull %s: exit %d, stderr %q; want exit 1 and one line with %q", c.ref, r.Code, r.Stderr, c.want)
			}
		})
	}
	if ents, _ := os.ReadDir(filepath.Join(e.cache, "images")); len(ents) > 0 {
		t.Errorf("failed pulls cached %v", ents)
	}
}

// slowProxy forwards to the registry, trickling blob bodies so that a
// pull can be interrupted mid-layer; started is closed at the first blob.
type slowProxy struct {
	target  string
	started chan struct{}
	once    sync.Once
}

func (p *slowProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.target+r.URL.RequestURI(), nil)
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if !strings.Contains(r.URL.Path, "/blobs/") || r.Method != http.MethodGet {
		_, _ = io.Copy(w, resp.Body)
		return
	}
	p.once.Do(func() { close(p.started) })
	buf := make([]byte, 16<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return
		}
	}
}

// TestPullInterrupted sends SIGINT to a pull in the middle of a layer:
// it exits 130 and the cache holds no image, no layer, no partial
// unpacking.
func TestPullInterrupted(t *testing.T) {
	e := newImgE2E(t)
	proxy := &slowProxy{target: e.reg.Addr, started: make(chan struct{})}
	addr := testutil.FreeLoopbackAddr(t)
	srv := &http.Server{Addr: addr, Handler: proxy}
	go func() { _ = srv.ListenAndServe() }()
	t.Cleanup(func() { srv.Close() })
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd := exec.Command(e.bin, "pull", addr+"/busybox:test", filepath.Join(t.TempDir(), "rootfs"))
	cmd.Env = append(e.env.Env(), "NSAGENT_IMAGE_DIR="+e.cache)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	testutil.Start(t, cmd)
	select {
	case <-proxy.started:
	case <-time.After(20 * time.Second):
		t.Fatal("the pull never asked for a blob")
	}
	time.Sleep(200 * time.Millisecond)
	if ents, _ := os.ReadDir(filepath.Join(e.cache, "tmp")); len(ents) == 0 {
		t.Error("no unpacking in progress in tmp/ mid-pull")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("interrupted pull: %v, want exit 130; stderr %q", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr %q does not say interrupted", stderr.String())
	}
	for _, sub := range []string{"images", "layers", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(e.cache, sub)); len(ents) > 0 {
			t.Errorf("%s/ holds %v after an interrupted pull", sub, ents)
		}
	}
	if r := e.nsagent("images"); strings.Contains(r.Stdout, "busybox") {
		t.Errorf("images lists the interrupted pull:\n%s", r.Stdout)
	}
}

// TestLaunchImage: `nsagent launch REGISTRY/IMAGE CMD` pulls the image,
// runs on a copy-on-write overlay of the cache with the image's Env and
// WorkingDir, and a second launch makes no registry request at all and
// runs in the launch binary.
func TestLaunchImage(t *testing.T) {
	e := newImgE2E(t)
	// The busybox image with a config of its own, written by
	// go-containerregistry next to the docker-pushed one.
	base, err := name.ParseReference(e.busybox)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(base)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	c := cf.Config
	c.Env = []string{"PATH=/custom/bin:/usr/bin:/bin", "FROM_IMAGE=yes", "OVERRIDE=image"}
	c.WorkingDir = "/tmp"
	img, err = mutate.Config(img, c)
	if err != nil {
		t.Fatal(err)
	}
	ref := e.reg.Addr + "/busybox:env"
	tag, _ := name.ParseReference(ref)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}

	r := e.nsagent("launch", "--rm", "-e", "OVERRIDE=cli", ref, "sh", "-c", `echo "$PATH $FROM_IMAGE $OVERRIDE"; pwd; echo scribble > /bin/busybox-copy; rm /bin/ls; ls /bin/ls`)
	if r.Code == 0 {
		t.Errorf("ls /bin/ls after rm should fail inside the workload")
	}
	lines := strings.Split(r.Stdout, "\n")
	if len(lines) < 2 || lines[0] != "/custom/bin:/usr/bin:/bin yes cli" || lines[1] != "/tmp" {
		t.Fatalf("launch printed %q (stderr %q), want the image's PATH, env and working dir", r.Stdout, r.Stderr)
	}
	// The workload's writes stayed in its own upper layer.
	var sawLS bool
	_ = filepath.Walk(filepath.Join(e.cache, "layers"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, "/bin/busybox-copy") {
			t.Errorf("a workload's write reached the cache: %s", p)
		}
		if err == nil && strings.HasSuffix(p, "/bin/ls") {
			sawLS = true
		}
		return nil
	})
	if !sawLS {
		t.Error("a workload's rm reached the cache: bin/ls gone")
	}

	before := e.reg.Requests(t, "/v2/")
	r = e.nsagent("launch", "--rm", ref, "sh", "-c", "echo $PATH")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "/custom/bin:/usr/bin:/bin" {
		t.Fatalf("second launch: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if after := e.reg.Requests(t, "/v2/"); after != before {
		t.Errorf("a cached launch made %d registry requests, want none", after-before)
	}
	// It ran in the launch binary (launcher/nsenter/fastlaunch.go), which
	// found the image by the name the first launch recorded: Go started
	// once, without the registry client.
	e.envExtra = []string{"GODEBUG=inittrace=1"}
	r = e.nsagent("launch", "--rm", ref, "true")
	e.envExtra = nil
	if inits := initTrace(r.Stderr); r.Code != 0 || strings.Count(inits, "github.com/nsagent/nsagent/launcher\n") != 1 ||
		strings.Contains(inits, "github.com/google/go-containerregistry/pkg/name\n") {
		t.Errorf("cached image launch: status %d, want it run by the launch binary alone:\n%s", r.Code, inits)
	}
	// --rm: nothing of the workloads is left, overlay mounts included.
	if len(e.states()) != 0 {
		t.Errorf("workloads left: %v", e.states())
	}
	if m := testutil.MountsMentioning(t, e.env.StateDir, e.cache); len(m) > 0 {
		t.Errorf("mounts left on the host: %v", m)
	}
	// No workload directory (upper and work with it) is left; the
	// launcher's lock files and caches may stay.
	ents, _ := os.ReadDir(e.env.StateDir)
	for _, ent := range ents {
		if ent.IsDir() && !strings.HasPrefix(ent.Name(), ".") && ent.Name() != "cache" {
			t.Errorf("state dir holds workload directory %s", ent.Name())
		}
	}

	// rmi refuses an image a running workload is made of.
	r = e.nsagent("launch", "-d", "--name", "sleeper", ref, "sleep", "30")
	if r.Code != 0 {
		t.Fatalf("launch -d: %d %s", r.Code, r.Stderr)
	}
	if r := e.nsagent("rmi", ref); r.Code != 1 || !strings.Contains(r.Stderr, "in use") {
		t.Errorf("rmi of an image in use: %d %q", r.Code, r.Stderr)
	}
	e.run("", "rm", "-f", "sleeper")
	if r := e.nsagent("rmi", ref); r.Code != 0 {
		t.Errorf("rmi after the workload went: %d %s", r.Code, r.Stderr)
	}
}

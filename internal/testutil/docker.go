package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestImage is the Docker image tests import from the busybox rootfs.
const TestImage = "nsagent-test/busybox:latest"

// RequireDocker stops the test unless a Docker engine answers on its
// socket. `make test` starts one (scripts/services.sh); tests never start
// or stop the engine themselves, so parallel test binaries share it.
func RequireDocker(t testing.TB) {
	t.Helper()
	RequireCommand(t, "docker")
	var err error
	for i := 0; i < 3; i++ {
		if err = exec.Command("docker", "version", "--format", "{{.Server.Version}}").Run(); err == nil {
			return
		}
		time.Sleep(time.Second)
	}
	Unavailable(t, "a running dockerd (make test starts one: scripts/services.sh start): %v", err)
}

var importOnce sync.Once

// DockerImage imports the busybox rootfs as TestImage (docker import of a
// tarball; no registry involved) and returns its name.
func DockerImage(t testing.TB) string {
	t.Helper()
	RequireDocker(t)
	rootfs := BusyboxRootfs(t)
	var err error
	var out []byte
	importOnce.Do(func() {
		if exec.Command("docker", "image", "inspect", TestImage).Run() == nil {
			return
		}
		tarball := filepath.Join(filepath.Dir(rootfs), "rootfs.tar")
		if out, err = exec.Command("tar", "-C", rootfs, "-cf", tarball, ".").CombinedOutput(); err != nil {
			return
		}
		out, err = exec.Command("docker", "import", tarball, TestImage).CombinedOutput()
		os.Remove(tarball)
	})
	if err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	return TestImage
}

// DockerRun starts a detached container (docker run -d ARGS...), removes it
// when the test ends, and returns its full id.
func DockerRun(t testing.TB, args ...string) string {
	t.Helper()
	out := Run(t, "docker", append([]string{"run", "-d"}, args...)...)
	id := strings.TrimSpace(out)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	return id
}

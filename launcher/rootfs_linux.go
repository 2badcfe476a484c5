package launcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nsagent/nsagent/images"
)

// etcFiles are written per workload in its state directory and bound over
// the same paths in the root filesystem.
var etcFiles = []string{"hostname", "hosts", "resolv.conf"}

// writeEtcFiles writes the workload's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into its state directory.
func writeEtcFiles(dir string, c *Config) error {
	hostname := c.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"
	if c.Network == "host" {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
		}
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		resolv = nil // a host without one gives the workload an empty file
	}
	files := map[string][]byte{
		"hostname":    []byte(hostname + "\n"),
		"hosts":       []byte(hosts),
		"resolv.conf": resolv,
	}
	for _, name := range etcFiles {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// device is a node bound from the host's /dev into the workload's. They
// are bound rather than made with mknod so that the same code works in a
// user namespace, where mknod is not allowed.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// setupRootfs builds the workload's mount namespace and pivots into it.
// Every target inside the root filesystem is resolved with openat2 and
// RESOLVE_IN_ROOT and mounted on through /proc/self/fd, so a symlink in
// the root filesystem can never point a mount at a host path.
func setupRootfs(c *initConfig) error {
	// Nothing done here may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make mounts slave: %w", err)
	}
	rootfs := c.Rootfs
	if len(c.Layers) > 0 {
		var err error
		if rootfs, err = images.MountOverlay(c.Layers, c.WorkloadDir); err != nil {
			return err
		}
	}
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind root filesystem %s: %w", rootfs, err)
	}
	rootfd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open root filesystem: %w", err)
	}
	defer unix.Close(rootfd)
	r := root{fd: rootfd}

	if err := r.mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "", true); err != nil {
		return err
	}
	if err := r.mountSys(c); err != nil {
		return err
	}
	if err := r.mountDev(); err != nil {
		return err
	}
	for _, name := range etcFiles {
		src := filepath.Join(c.WorkloadDir, name)
		if err := r.bindFile(src, "/etc/"+name, false, !c.ReadOnly); err != nil {
			return err
		}
	}
	for _, m := range c.Mounts {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("volume %s: %w", m.Source, err)
		}
		if fi.IsDir() {
			err = r.bindDir(m.Source, m.Target, m.ReadOnly)
		} else {
			err = r.bindFile(m.Source, m.Target, m.ReadOnly, true)
		}
		if err != nil {
			return fmt.Errorf("volume %s:%s: %w", m.Source, m.Target, err)
		}
	}
	if err := pivotRoot(rootfs); err != nil {
		return err
	}
	if c.ReadOnly {
		if err := remountReadOnly("/"); err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
	}
	return nil
}

// root is the workload's root filesystem, before pivot_root.
type root struct{ fd int }

// open resolves p inside the root (symlinks stay inside it) to an O_PATH
// fd.
func (r root) open(p string, flags uint64) (int, error) {
	fd, err := unix.Openat2(r.fd, strings.TrimPrefix(p, "/"), &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | flags,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, fmt.Errorf("resolve %s in root: %w", p, err)
	}
	return fd, nil
}

// mkdirAll makes directory p and its parents inside the root and returns
// an O_PATH fd of it.
func (r root) mkdirAll(p string) (int, error) {
	p = filepath.Clean("/" + p)
	if fd, err := r.open(p, unix.O_DIRECTORY); err == nil {
		return fd, nil
	}
	cur := "/"
	fd, err := unix.Dup(r.fd)
	if err != nil {
		return -1, err
	}
	for _, comp := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		next := filepath.Join(cur, comp)
		nfd, err := r.open(next, unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(fd, comp, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return -1, fmt.Errorf("mkdir %s in root: %w", next, err)
			}
			nfd, err = r.open(next, unix.O_DIRECTORY)
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd, cur = nfd, next
	}
	return fd, nil
}

// mkfile makes an empty file p (and its parents) inside the root to mount
// a file on, and returns an O_PATH fd of it.
func (r root) mkfile(p string) (int, error) {
	p = filepath.Clean("/" + p)
	if fd, err := r.open(p, 0); err == nil {
		return fd, nil
	}
	dfd, err := r.mkdirAll(filepath.Dir(p))
	if err != nil {
		return -1, err
	}
	defer unix.Close(dfd)
	// O_PATH fds cannot be used with openat to create: reopen the dir.
	d, err := unix.Openat(dfd, ".", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(d)
	f, err := unix.Openat(d, filepath.Base(p), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("create %s in root: %w", p, err)
	}
	if err == nil {
		unix.Close(f)
	}
	return r.open(p, 0)
}

// noSymlink fails if p exists in the root and is, or is reached
// through, a symlink.
func (r root) noSymlink(p string) error {
	fd, err := unix.Openat2(r.fd, strings.TrimPrefix(p, "/"), &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS,
	})
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("root filesystem's %s is a symlink: refusing to mount on it", p)
	}
	if err != nil {
		return fmt.Errorf("resolve %s in root: %w", p, err)
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return fmt.Errorf("root filesystem's %s is a symlink: refusing to mount on it", p)
	}
	return err
}

// checkProcfs runs right after pivot_root, before anything is written
// or mounted under /proc (masks, read-only binds, /proc/self/fd paths):
// /proc must be the procfs the init mounted, not a directory or symlink
// of the root filesystem dressed up as one.
func checkProcfs(*initConfig) error {
	for _, p := range []string{"/proc", "/proc/self/fd"} {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		var sfs unix.Statfs_t
		err = unix.Fstatfs(fd, &sfs)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if sfs.Type != unix.PROC_SUPER_MAGIC {
			return fmt.Errorf("%s is not procfs (filesystem type %#x)", p, sfs.Type)
		}
	}
	return nil
}

func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// mount mounts a filesystem on directory target inside the root. The
// target must not be, or pass through, a symlink of the root
// filesystem: a /proc or /sys that points elsewhere in the root would
// put the kernel's filesystem where the workload did not expect it and
// leave what it pointed from (a fake tree) in its place.
func (r root) mount(source, target, fstype string, flags uintptr, data string, mkdir bool) error {
	if err := r.noSymlink(target); err != nil {
		return err
	}
	fd, err := r.mkdirAll(target)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Mount(source, fdPath(fd), fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, target, err)
	}
	return nil
}

func (r root) mountSys(c *initConfig) error {
	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	err := r.mount("sysfs", "/sys", "sysfs", flags, "", true)
	if err == nil || !errnoIs(err, unix.EPERM) {
		return err
	}
	// Sharing the host's network namespace from a user namespace: sysfs
	// cannot be mounted fresh, so the host's is bound read-only.
	return r.bindDir("/sys", "/sys", true)
}

func (r root) mountDev() error {
	if err := r.mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k", true); err != nil {
		return err
	}
	for _, d := range devices {
		if err := r.bindFile("/dev/"+d, "/dev/"+d, false, true); err != nil {
			return err
		}
	}
	if err := r.mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", true); err != nil {
		return err
	}
	if err := r.mount("shm", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k", true); err != nil {
		return err
	}
	dfd, err := r.open("/dev", unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	d, err := unix.Openat(dfd, ".", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	for name, target := range map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := unix.Symlinkat(target, d, name); err != nil {
			return fmt.Errorf("symlink /dev/%s: %w", name, err)
		}
	}
	return nil
}

// bindFile binds host file src onto target in the root, creating the
// target if create is set (else a missing target is skipped: a read-only
// root filesystem without /etc/hosts gets none).
func (r root) bindFile(src, target string, ro, create bool) error {
	var fd int
	var err error
	if create {
		fd, err = r.mkfile(target)
	} else {
		fd, err = r.open(target, 0)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return r.bindOn(src, fd, target, ro)
}

func (r root) bindDir(src, target string, ro bool) error {
	fd, err := r.mkdirAll(target)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := r.bindOn(src, fd, target, ro); err != nil {
		return err
	}
	return nil
}

func (r root) bindOn(src string, fd int, target string, ro bool) error {
	if err := unix.Mount(src, fdPath(fd), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, target, err)
	}
	if !ro {
		return nil
	}
	// fd still names what lies under the new mount: resolve the target
	// again to reach the bind mount itself.
	mfd, err := r.open(target, 0)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	return remountReadOnly(fdPath(mfd))
}

// remountReadOnly makes the bind mount at p read-only, keeping the flags
// the kernel locks on it (nosuid, nodev, noexec) as they are.
func remountReadOnly(p string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(p, &sfs); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(sfs.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if err := unix.Mount("", p, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", p, err)
	}
	return nil
}

// pivotRoot makes rootfs the root and detaches the old one, the way runc
// does it without a directory for the old root: pivot_root(".", ".")
// stacks the old root on the new, and unmounting "." from the old root
// removes it.
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root slave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// maskedPaths are hidden from the workload and readonlyPaths made
// read-only, as Docker does (moby's oci.DefaultSpec): kernel state that
// leaks host information or lets root in the workload change the host.
var (
	maskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// maskPaths runs after pivot_root, on the procfs and sysfs the init
// mounted itself (never on what the root filesystem had there): a file
// gets /dev/null bound over it, a directory an empty read-only tmpfs.
// Nothing is followed: a path that is a symlink is left alone.
func maskPaths(c *initConfig) error {
	if c.Privileged {
		return nil
	}
	null, err := unix.Open("/dev/null", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/null: %w", err)
	}
	defer unix.Close(null)
	var st unix.Stat_t
	if err := unix.Fstat(null, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		return errors.New("/dev/null is not the null device")
	}
	for _, p := range maskedPaths {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
		err = unix.Fstat(fd, &st)
		switch {
		case err != nil:
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			err = unix.Mount("tmpfs", fdPath(fd), "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,mode=0")
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		default:
			err = unix.Mount(fdPath(null), fdPath(fd), "", unix.MS_BIND, "")
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	for _, p := range readonlyPaths {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
		err = unix.Mount(fdPath(fd), fdPath(fd), "", unix.MS_BIND|unix.MS_REC, "")
		unix.Close(fd)
		if err == nil {
			err = remountReadOnly(p)
		}
		if err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
	}
	return nil
}

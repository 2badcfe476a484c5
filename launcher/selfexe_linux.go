package launcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The binary a workload's init and an exec helper run from is a
// read-only view of nsagent, not nsagent itself (CVE-2019-5736): until
// they execve, /proc/PID/exe of either names that view, and a process of
// the workload that opens it for writing gets EROFS (or a memfd whose
// seals refuse every write), never the host's binary. See the package
// doc for the choice between the two.

var (
	sealedOnce sync.Once
	sealedFile *os.File
	sealedErr  error
	// SealedKind says how SealedSelf sealed the binary ("overlay" or
	// "memfd"), for tests and the benchmark.
	SealedKind string
)

// SealedSelf returns the path (/proc/self/fd/N) of a sealed view of the
// running binary, made once per process: the binary as seen through a
// private read-only overlay mount that is attached nowhere (runc's
// approach since 1.2: no copy), or, where that cannot be made, a sealed
// memfd copy. emptyDir is an empty directory for the overlay's second
// lower layer (an overlay without an upper layer needs two). The fd is
// close-on-exec; execve resolves the path before it closes such fds.
func SealedSelf(emptyDir string) (string, error) {
	sealedOnce.Do(func() {
		var oerr error
		if sealedFile, oerr = overlaySelf(emptyDir); oerr == nil {
			SealedKind = "overlay"
		} else if sealedFile, oerr = overlaySelfDetached(); oerr == nil {
			SealedKind = "overlay"
		} else if sealedFile, sealedErr = sealSelf(); sealedErr == nil {
			SealedKind = "memfd"
		}
		if sealedErr == nil {
			sealedFile, sealedErr = aboveChildFDs(sealedFile)
		}
	})
	if sealedErr != nil {
		return "", sealedErr
	}
	return "/proc/self/fd/" + strconv.Itoa(int(sealedFile.Fd())), nil
}

// sealedMinFD is the lowest fd number the sealed binary may have: a child
// is given its stdio and sockets as fds 0-4, dup2'ed there before the
// execve that resolves /proc/self/fd/N, and a sealed fd among them would
// be replaced first (the init would exec its sync socket: EACCES). The
// fd lands that low when the binary is opened before anything else, as
// when the init is forked at the start of a launch.
const sealedMinFD = 10

// aboveChildFDs moves f's fd to sealedMinFD or above.
func aboveChildFDs(f *os.File) (*os.File, error) {
	if f.Fd() >= sealedMinFD {
		return f, nil
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, sealedMinFD)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("sealed binary: %w", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// overlaySelf opens the binary through a read-only overlay of its
// directory, mounted with the new mount API and attached to no mount
// namespace: nothing can remount it writable or reach its lower layer
// through it, and it costs a few syscalls instead of a 24 MB copy.
func overlaySelf(emptyDir string) (*os.File, error) {
	if err := os.MkdirAll(emptyDir, 0o700); err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(emptyDir); err != nil || len(ents) > 0 {
		return nil, fmt.Errorf("%s is not an empty directory", emptyDir)
	}
	return overlayOver(emptyDir)
}

// overlaySelfDetached is overlaySelf with an empty tmpfs attached nowhere
// as the second layer, for when the state directory's empty directory
// cannot be one: overlayfs refuses layers inside each other (ELOOP), as
// when the state directory lies under the binary's directory (a binary
// and --state-dir both in /tmp). The sealed copy it saves is 24 MB of
// memory per launch, and 3.6 ms of a 52 ms launch here (20 alternating
// rounds). Kernels before 6.15 refuse layers from a detached mount;
// SealedSelf then copies.
func overlaySelfDetached() (*os.File, error) {
	ctx, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen tmpfs: %w", err)
	}
	defer unix.Close(ctx)
	if err := unix.FsconfigCreate(ctx); err != nil {
		return nil, fmt.Errorf("tmpfs create: %w", err)
	}
	empty, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsmount tmpfs: %w", err)
	}
	defer unix.Close(empty)
	return overlayOver("/proc/self/fd/" + strconv.Itoa(empty))
}

// overlayOver opens the binary through a read-only overlay of its
// directory on top of emptyDir.
func overlayOver(emptyDir string) (*os.File, error) {
	bin, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(bin, " (deleted)") {
		return nil, errors.New("binary deleted")
	}
	esc := func(p string) string { return strings.ReplaceAll(strings.ReplaceAll(p, `\`, `\\`), `:`, `\:`) }
	ctx, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(ctx)
	// The binary's directory on top, so that nothing in emptyDir can
	// stand in for it.
	if err := unix.FsconfigSetString(ctx, "lowerdir", esc(filepath.Dir(bin))+":"+esc(emptyDir)); err != nil {
		return nil, fmt.Errorf("overlay lowerdir: %w", err)
	}
	_ = unix.FsconfigSetString(ctx, "xino", "off")
	if err := unix.FsconfigCreate(ctx); err != nil {
		return nil, fmt.Errorf("overlay create: %w", err)
	}
	mnt, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return nil, fmt.Errorf("fsmount overlay: %w", err)
	}
	defer unix.Close(mnt)
	fd, err := unix.Openat(mnt, filepath.Base(bin), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s through the overlay: %w", filepath.Base(bin), err)
	}
	// The same binary: same size and content identity as far as a stat
	// goes (overlay maps inode and device numbers, so not those).
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Stat("/proc/self/exe", &b) != nil || a.Size != b.Size || a.Mtim != b.Mtim {
		unix.Close(fd)
		return nil, errors.New("overlay shows another binary")
	}
	return os.NewFile(uintptr(fd), "nsagent-overlay"), nil
}

func sealSelf() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("sealed copy of nsagent: %w", err)
	}
	defer src.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return nil, fmt.Errorf("sealed copy of nsagent: %w", err)
	}
	// MFD_EXEC: a kernel with vm.memfd_noexec=1 makes memfds
	// non-executable unless asked; older kernels do not know the flag.
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate("nsagent", flags|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate("nsagent", flags)
	}
	if err != nil {
		return nil, fmt.Errorf("sealed copy of nsagent: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "nsagent-sealed")
	fail := func(what string, err error) (*os.File, error) {
		f.Close()
		return nil, fmt.Errorf("sealed copy of nsagent: %s: %w", what, err)
	}
	// sendfile copies in the kernel, page cache to shmem: no round trip
	// of 24 MB through this process.
	for off := int64(0); off < st.Size; {
		n, err := unix.Sendfile(fd, int(src.Fd()), &off, int(st.Size-off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fail("copy", err)
		}
		if n == 0 {
			return fail("copy", errors.New("binary shrank while copied"))
		}
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return fail("seal", err)
	}
	return f, nil
}

// sealDir is the empty directory SealedSelf's overlay needs.
func (l *Launcher) sealDir() string { return filepath.Join(l.Store.Dir, cacheDirName, "exe-lower") }

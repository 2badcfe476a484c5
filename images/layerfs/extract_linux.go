package layerfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WhiteoutMode says what Extract does with the OCI whiteout entries of a
// layer (".wh.NAME" deletes NAME of the layers below, ".wh..wh..opq"
// hides everything below in its directory).
type WhiteoutMode int

const (
	// WhiteoutNone extracts ".wh." entries as the ordinary files they
	// look like: a `docker export` tarball is one flat tree, not a layer.
	WhiteoutNone WhiteoutMode = iota
	// WhiteoutApply deletes what the whiteouts name from the directory,
	// flattening a layer onto the layers already extracted there.
	WhiteoutApply
	// WhiteoutOverlay records whiteouts the way overlayfs reads them: a
	// 0/0 character device for a deleted name, the xattr
	// trusted.overlay.opaque=y on an opaque directory. The directory is
	// then one lower layer of an overlay mount.
	WhiteoutOverlay
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
)

// ErrUnsafeEntry is wrapped by every refusal of an entry that would write
// outside the target directory: a ".." path, a path through a symbolic
// link, a hard link to a name outside the tree.
var ErrUnsafeEntry = errors.New("unsafe layer entry")

// ExtractOptions tune Extract.
type ExtractOptions struct {
	Whiteouts WhiteoutMode
}

// Extract unpacks the tar stream r under dir, keeping modes, owners,
// symlinks, hard links, device nodes, file xattrs and times. Every
// entry's parent is opened beneath dir with no symlink followed (openat2
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) and names holding ".." are
// refused, so an entry can neither climb out nor write through a link an
// earlier entry (or an earlier layer) planted; a hard link can only name
// a file already inside dir.
func Extract(r io.Reader, dir string, opt ExtractOptions) error {
	rootfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	x := &extractor{root: rootfd, opt: opt}
	if opt.Whiteouts == WhiteoutApply {
		x.written = map[string]bool{}
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	return x.finishDirs()
}

type dirMeta struct {
	name     string
	mode     uint32
	uid, gid int
	mtime    time.Time
}

type extractor struct {
	root int
	opt  ExtractOptions
	dirs []dirMeta
	// written holds the names this layer made (WhiteoutApply): an opaque
	// whiteout removes only what the layers below left.
	written map[string]bool
}

// relName turns an entry name into a path relative to the root, refusing
// any name with a ".." component rather than silently cleaning it.
func relName(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: path %q leaves the root filesystem", ErrUnsafeEntry, name)
		}
	}
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/"), nil
}

func (x *extractor) entry(hdr *tar.Header, body io.Reader) error {
	rel, err := relName(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "" {
		if hdr.Typeflag == tar.TypeDir {
			x.dirs = append(x.dirs, dirMeta{".", uint32(hdr.Mode) & 0o7777, hdr.Uid, hdr.Gid, hdr.ModTime})
		}
		return nil
	}
	parent, base := path.Dir(rel), path.Base(rel)
	pfd, err := openBeneath(x.root, parent)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	if x.opt.Whiteouts != WhiteoutNone && strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(pfd, parent, base)
	}
	if x.written != nil {
		x.written[rel] = true
	}
	mode := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := removeAllAt(pfd, base); err != nil {
				return err
			}
		}
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		x.dirs = append(x.dirs, dirMeta{rel, mode, hdr.Uid, hdr.Gid, hdr.ModTime})
		return nil
	case tar.TypeReg, tar.TypeRegA:
		if err := clearNonDir(pfd, base); err != nil {
			return err
		}
		fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		defer f.Close()
		if _, err := io.Copy(f, body); err != nil {
			return err
		}
		if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		// chmod after chown: chown clears the set-id bits.
		if err := unix.Fchmod(fd, mode); err != nil {
			return err
		}
		for k, v := range hdr.PAXRecords {
			if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				if err := unix.Fsetxattr(fd, name, []byte(v), 0); err != nil {
					return fmt.Errorf("set xattr %s: %w", name, err)
				}
			}
		}
		return setTimes(pfd, base, hdr.ModTime)
	case tar.TypeSymlink:
		if err := clearNonDir(pfd, base); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		return setTimes(pfd, base, hdr.ModTime)
	case tar.TypeLink:
		target, err := relName(hdr.Linkname)
		if err != nil || target == "" {
			return fmt.Errorf("%w: hard link to %q, outside the root filesystem", ErrUnsafeEntry, hdr.Linkname)
		}
		tfd, err := openBeneath(x.root, path.Dir(target))
		if err != nil {
			return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
		}
		defer unix.Close(tfd)
		var st unix.Stat_t
		if err := unix.Fstatat(tfd, path.Base(target), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%w: hard link to %q, which is not in the layer", ErrUnsafeEntry, hdr.Linkname)
		}
		if err := clearNonDir(pfd, base); err != nil {
			return err
		}
		// No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink.
		return unix.Linkat(tfd, path.Base(target), pfd, base, 0)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		m := mode
		switch hdr.Typeflag {
		case tar.TypeChar:
			m |= unix.S_IFCHR
		case tar.TypeBlock:
			m |= unix.S_IFBLK
		default:
			m |= unix.S_IFIFO
		}
		if err := clearNonDir(pfd, base); err != nil {
			return err
		}
		if err := unix.Mknodat(pfd, base, m, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return err
		}
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		// Not a symlink (just made): fchmodat cannot be sent elsewhere.
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return err
		}
		return setTimes(pfd, base, hdr.ModTime)
	}
	return nil // pax globals and the like carry nothing to make
}

// whiteout handles a ".wh." entry in parent (already opened as pfd).
func (x *extractor) whiteout(pfd int, parent, base string) error {
	if base == whiteoutOpaque {
		if x.opt.Whiteouts == WhiteoutOverlay {
			return unix.Fsetxattr(pfd, opaqueXattr, []byte("y"), 0)
		}
		return x.removeLower(pfd, parent)
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return fmt.Errorf("%w: whiteout of %q", ErrUnsafeEntry, name)
	}
	if err := removeAllAt(pfd, name); err != nil {
		return err
	}
	if x.opt.Whiteouts == WhiteoutOverlay {
		return unix.Mknodat(pfd, name, unix.S_IFCHR, 0)
	}
	return nil
}

// removeLower removes from directory rel (open as fd) everything this
// layer did not write, descending into the directories it did write
// (an opaque whiteout listed after "dir/sub/" still hides the lower
// layers' dir/sub/*).
func (x *extractor) removeLower(fd int, rel string) error {
	d := os.NewFile(uintptr(dupFD(fd)), rel)
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		child := path.Join(rel, n)
		if !x.written[child] {
			if err := removeAllAt(fd, n); err != nil {
				return err
			}
			continue
		}
		cfd, err := unix.Openat(fd, n, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			continue
		}
		if err != nil {
			return err
		}
		err = x.removeLower(cfd, child)
		unix.Close(cfd)
		if err != nil {
			return err
		}
	}
	return nil
}

// finishDirs sets directory owners, modes and times last, deepest first,
// so a read-only directory is filled before it becomes read-only and an
// entry written into a directory does not move its time. Each directory
// is opened again with no symlink followed: a later entry may have put a
// link where it was.
func (x *extractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		fd, err := openBeneath(x.root, d.name)
		if err != nil {
			return fmt.Errorf("entry %q: %w", d.name, err)
		}
		err = unix.Fchown(fd, d.uid, d.gid)
		if err == nil {
			err = unix.Fchmod(fd, d.mode)
		}
		if err == nil && !d.mtime.IsZero() {
			tv := unix.NsecToTimeval(d.mtime.UnixNano())
			err = unix.Futimes(fd, []unix.Timeval{tv, tv})
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("entry %q: %w", d.name, err)
		}
	}
	return nil
}

func setTimes(dirfd int, name string, mtime time.Time) error {
	if mtime.IsZero() {
		return nil
	}
	ts := unix.NsecToTimespec(mtime.UnixNano())
	return unix.UtimesNanoAt(dirfd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

func dupFD(fd int) int {
	n, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return n
}

// clearNonDir makes room for a non-directory entry: whatever is at name
// goes, a directory (left by a lower layer) with all its contents.
func clearNonDir(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if errors.Is(err, unix.EISDIR) {
		return removeAllAt(dirfd, name)
	}
	return err
}

// removeAllAt removes name in dirfd and, for a directory, everything in
// it, never following a symlink (os.RemoveAll takes a path, and a path
// is what an earlier entry could redirect).
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	names, err := d.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	d.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// openBeneath opens directory rel under rootfd, making missing parents
// (a tarball may list a file before its directory), with no symlink
// followed and no way out of rootfd.
func openBeneath(rootfd int, rel string) (int, error) {
	if rel == "." || rel == "" {
		return unix.FcntlInt(uintptr(rootfd), unix.F_DUPFD_CLOEXEC, 0)
	}
	how := &unix.OpenHow{Flags: unix.O_DIRECTORY | unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS}
	fd, err := unix.Openat2(rootfd, rel, how)
	if err == nil {
		return fd, nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return -1, resolveErr(rel, err)
	}
	pfd, err := openBeneath(rootfd, path.Dir(rel))
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, path.Base(rel), 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	fd, err = unix.Openat2(rootfd, rel, how)
	if err != nil {
		return -1, resolveErr(rel, err)
	}
	return fd, nil
}

// resolveErr names why openat2 refused a path.
func resolveErr(rel string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%w: %q goes through a symbolic link (a layer may not write through a link)", ErrUnsafeEntry, rel)
	case errors.Is(err, unix.EXDEV):
		return fmt.Errorf("%w: %q leaves the root filesystem", ErrUnsafeEntry, rel)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%q: not a directory", rel)
	}
	return err
}

package launcher

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// cacheDirName is the directory under the state dir holding unpacked
// root filesystems, by the sha256 of their tarball.
const cacheDirName = "cache"

// unpackTarball unpacks a tarball (as `docker export` writes it) once
// into STATEDIR/cache/rootfs/SHA256 and returns that directory; later
// launches of the same tarball reuse it.
func (l *Launcher) unpackTarball(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("root filesystem: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read tarball %s: %w", p, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	cache := filepath.Join(l.Store.Dir, cacheDirName, "rootfs")
	dir := filepath.Join(cache, sum)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir, nil
	}
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return "", fmt.Errorf("rootfs cache: %w", err)
	}
	tmp, err := os.MkdirTemp(cache, ".unpack-")
	if err != nil {
		return "", fmt.Errorf("rootfs cache: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if err := untar(f, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpack %s: %w", p, err)
	}
	// Whoever renames first wins; a concurrent unpacking of the same
	// tarball is thrown away.
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return dir, nil
		}
		return "", fmt.Errorf("rootfs cache: %w", err)
	}
	return dir, nil
}

// untar extracts r under dir. Each entry's parent is opened beneath dir
// with no symlink followed (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS),
// so an entry can neither climb out with ".." nor write through a symlink
// an earlier entry planted.
func untar(r io.Reader, dir string) error {
	rootfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	tr := tar.NewReader(r)
	type dirMode struct {
		name string
		mode uint32
	}
	var dirs []dirMode
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := filepath.Clean("/" + hdr.Name)
		if name == "/" {
			continue
		}
		rel := strings.TrimPrefix(name, "/")
		parent, base := filepath.Dir(rel), filepath.Base(rel)
		pfd, err := openBeneath(rootfd, parent)
		if err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		mode := uint32(hdr.Mode) & 0o7777
		err = func() error {
			switch hdr.Typeflag {
			case tar.TypeDir:
				if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
					return err
				}
				dirs = append(dirs, dirMode{rel, mode})
			case tar.TypeReg:
				_ = unix.Unlinkat(pfd, base, 0)
				fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
				if err != nil {
					return err
				}
				out := os.NewFile(uintptr(fd), base)
				_, err = io.Copy(out, tr)
				if cerr := out.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
			case tar.TypeSymlink:
				_ = unix.Unlinkat(pfd, base, 0)
				return unix.Symlinkat(hdr.Linkname, pfd, base)
			case tar.TypeLink:
				target := strings.TrimPrefix(filepath.Clean("/"+hdr.Linkname), "/")
				tfd, err := openBeneath(rootfd, filepath.Dir(target))
				if err != nil {
					return err
				}
				defer unix.Close(tfd)
				_ = unix.Unlinkat(pfd, base, 0)
				return unix.Linkat(tfd, filepath.Base(target), pfd, base, 0)
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
				_ = unix.Unlinkat(pfd, base, 0)
				return unix.Mknodat(pfd, base, m, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
			default:
				return nil // pax headers and the like carry nothing to make
			}
			return nil
		}()
		if err == nil && hdr.Typeflag != tar.TypeDir {
			err = unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
			if err == nil && hdr.Typeflag != tar.TypeSymlink {
				err = unix.Fchmodat(pfd, base, mode, 0)
			}
		}
		unix.Close(pfd)
		if err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			if err := unix.Fchownat(rootfd, rel, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
		}
	}
	// Directory modes last, so a read-only directory is filled first.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.Fchmodat(rootfd, dirs[i].name, dirs[i].mode, 0); err != nil {
			return fmt.Errorf("%s: %w", dirs[i].name, err)
		}
	}
	return nil
}

// openBeneath opens directory rel under rootfd, making missing parents
// (a tarball may list a file before its directory), with no symlink
// followed and no way out of rootfd.
func openBeneath(rootfd int, rel string) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_DIRECTORY | unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS}
	if rel == "." || rel == "" {
		return unix.Dup(rootfd)
	}
	fd, err := unix.Openat2(rootfd, rel, how)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	pfd, err := openBeneath(rootfd, filepath.Dir(rel))
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, filepath.Base(rel), 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	return unix.Openat2(rootfd, rel, how)
}

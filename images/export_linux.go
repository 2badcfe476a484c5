package images

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Export lays out im's root filesystem in dir, as `docker export | tar
// -x` would: each cached layer, bottom first, is streamed as a tar (its
// overlayfs whiteouts turned back into OCI ones) through Extract, which
// applies the whiteouts and writes nothing outside dir. dir must not
// exist or be empty; on failure what was written is removed.
func (s *Store) Export(ctx context.Context, im *Image, dir string) (err error) {
	created := false
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		created = true
	case err != nil:
		return fmt.Errorf("target %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("target %s is not empty", dir)
	}
	defer func() {
		if err == nil {
			return
		}
		if created {
			os.RemoveAll(dir)
			return
		}
		if ents, rerr := os.ReadDir(dir); rerr == nil {
			for _, e := range ents {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}()
	for i, l := range im.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeLayerTar(pw, s.layerDir(l.DiffID))) }()
		err := Extract(pr, dir, ExtractOptions{Whiteouts: WhiteoutApply})
		pr.CloseWithError(errors.New("extraction stopped"))
		if err != nil {
			return fmt.Errorf("layer %d (%s): %w", i+1, l.DiffID, err)
		}
	}
	return nil
}

// writeLayerTar writes the unpacked layer at dir as a tar: the inverse of
// Extract with WhiteoutOverlay, hard links found by inode.
func writeLayerTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	inodes := map[[2]uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		hdr := &tar.Header{
			Name: rel, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
			ModTime: time.Unix(st.Mtim.Unix()), Format: tar.FormatPAX,
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if v, err := getxattr(p, opaqueXattr); err == nil && v == "y" {
				return tw.WriteHeader(&tar.Header{Name: path.Join(rel, whiteoutOpaque), Typeflag: tar.TypeReg, Mode: 0o644})
			}
			return nil
		case unix.S_IFCHR:
			if st.Rdev == 0 {
				wh := path.Join(path.Dir(rel), whiteoutPrefix+path.Base(rel))
				return tw.WriteHeader(&tar.Header{Name: wh, Typeflag: tar.TypeReg, Mode: 0o644})
			}
			hdr.Typeflag = tar.TypeChar
		case unix.S_IFBLK:
			hdr.Typeflag = tar.TypeBlock
		case unix.S_IFIFO:
			hdr.Typeflag = tar.TypeFifo
		case unix.S_IFLNK:
			hdr.Typeflag = tar.TypeSymlink
			if hdr.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case unix.S_IFREG:
			if st.Nlink > 1 {
				key := [2]uint64{st.Dev, st.Ino}
				if first, ok := inodes[key]; ok {
					hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
					return tw.WriteHeader(hdr)
				}
				inodes[key] = rel
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
			if err := xattrRecords(p, hdr); err != nil {
				return err
			}
		default:
			return nil // a socket is not part of an image
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func getxattr(p, name string) (string, error) {
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// xattrRecords copies a file's xattrs (file capabilities above all) into
// the header, as PAX records in the SCHILY.xattr form tar and Docker use.
func xattrRecords(p string, hdr *tar.Header) error {
	buf := make([]byte, 1024)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return nil // no xattrs, or a filesystem without them
	}
	for _, k := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if k == "" || strings.HasPrefix(k, "trusted.overlay.") {
			continue
		}
		vb := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, k, vb)
		if err != nil {
			return fmt.Errorf("xattr %s of %s: %w", k, p, err)
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+k] = string(vb[:m])
	}
	return nil
}

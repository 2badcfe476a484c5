package launcher

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nsagent/nsagent/images/layerfs"
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

// untar extracts a `docker export` tarball under dir with the images
// package's extractor (which refuses ".." names, writes through no
// symlink and links to nothing outside dir), so a tarball and an image
// layer are unpacked by the same code.
func untar(r io.Reader, dir string) error {
	return layerfs.Extract(r, dir, layerfs.ExtractOptions{Whiteouts: layerfs.WhiteoutNone})
}

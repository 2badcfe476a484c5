package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/nsagent/nsagent/images/cache"
	"github.com/nsagent/nsagent/internal/atomicfile"
)

// DefaultDir is the cache's default home.
const DefaultDir = cache.DefaultDir

// Store is the image cache rooted at Dir (layout in the package doc).
type Store struct {
	Dir string
}

// The record types are package cache's, which the launch binary reads
// without this package.
type (
	ImageConfig = cache.ImageConfig
	Layer       = cache.Layer
	Image       = cache.Image
)

func hexOf(digest string) string { return strings.TrimPrefix(digest, "sha256:") }

func (s *Store) layerDir(diffID string) string { return cache.LayerDir(s.Dir, diffID) }

func (s *Store) imagePath(digest string) string { return cache.ImagePath(s.Dir, digest) }

func (s *Store) refsPath() string { return cache.RefsPath(s.Dir) }

// lock takes the cache's flock, shared (a pull: many may run at once,
// each layer is renamed into place whole) or exclusive (rmi and gc,
// which delete). The returned function releases it.
func (s *Store) lock(how int) (func(), error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image cache lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("image cache lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// refsLock serialises read-modify-write of refs.json; it is taken inside
// the cache lock.
func (s *Store) refsLock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, ".refs.lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image cache lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("image cache lock: %w", err)
	}
	return func() { f.Close() }, nil
}

func (s *Store) readRefs() (map[string]string, error) { return cache.ReadRefs(s.Dir) }

func (s *Store) writeRefs(refs map[string]string) error { return writeJSON(s.refsPath(), refs) }

// writeJSON writes one of the cache's records, indented, by rename.
func writeJSON(p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(p, append(b, '\n'))
}

// setRef points ref at the image with manifest digest.
func (s *Store) setRef(ref, digest string) error {
	return s.setEntry(s.refsPath(), cache.ReadRefs, ref, digest)
}

// setEntry sets key to value in one of the cache's tables (refs.json,
// names.json): a read-modify-write under the refs lock.
func (s *Store) setEntry(p string, read func(root string) (map[string]string, error), key, value string) error {
	unlock, err := s.refsLock()
	if err != nil {
		return err
	}
	defer unlock()
	t, err := read(s.Dir)
	if err != nil {
		return err
	}
	t[key] = value
	return writeJSON(p, t)
}

func (s *Store) loadImage(digest string) (*Image, error) { return cache.LoadImage(s.Dir, digest) }

func (s *Store) saveImage(im *Image) error {
	if err := os.MkdirAll(filepath.Join(s.Dir, "images"), 0o700); err != nil {
		return err
	}
	return writeJSON(s.imagePath(im.Digest), im)
}

// ErrNotCached is returned by Lookup for a reference the cache lacks.
var ErrNotCached = cache.ErrNotCached

// Lookup finds a cached image by source, with all its layers, without
// touching the network.
func (s *Store) Lookup(src Source) (*Image, error) { return cache.Lookup(s.Dir, src.String()) }

// List returns the cached images, each with the references naming it,
// most recently pulled first.
func (s *Store) List() ([]*Image, error) {
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(s.Dir, "images"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	byDigest := map[string]*Image{}
	var out []*Image
	for _, e := range ents {
		h, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(h, ".") {
			continue
		}
		im, err := s.loadImage("sha256:" + h)
		if err != nil {
			return nil, err
		}
		byDigest[im.Digest] = im
		out = append(out, im)
	}
	for r, d := range refs {
		if im := byDigest[d]; im != nil {
			im.Refs = append(im.Refs, r)
		}
	}
	for _, im := range out {
		sort.Strings(im.Refs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pulled.After(out[j].Pulled) })
	return out, nil
}

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
	"time"

	"github.com/nsagent/nsagent/internal/atomicfile"
)

// DefaultDir is the cache's default home.
const DefaultDir = "/var/lib/nsagent/images"

// Store is the image cache rooted at Dir (layout in the package doc).
type Store struct {
	Dir string
}

// ImageConfig is the part of an image's config a launch honours, as
// `docker run` does.
type ImageConfig struct {
	Env        []string `json:"env,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
}

// Layer is one layer of a cached image.
type Layer struct {
	// Digest is the blob's digest as the manifest names it (compressed).
	Digest string `json:"digest"`
	// DiffID is the digest of the uncompressed tar: the cache key.
	DiffID string `json:"diff_id"`
	// Size is the blob's size in bytes.
	Size int64 `json:"size"`
}

// Image is a cached image: images/HEX.json.
type Image struct {
	// Digest is the manifest's digest (sha256:…): the image's key.
	Digest string `json:"digest"`
	// ConfigDigest is the config blob's digest: Docker's image id.
	ConfigDigest string      `json:"config_digest"`
	Platform     string      `json:"platform,omitempty"`
	Config       ImageConfig `json:"config"`
	// Layers are bottom first, as the manifest lists them.
	Layers []Layer   `json:"layers"`
	Pulled time.Time `json:"pulled"`
	// Refs are the references naming it (filled by List).
	Refs  []string `json:"-"`
	store *Store
}

// LayerDirs returns the unpacked layers' directories top first, the
// order overlayfs wants its lower directories in.
func (im *Image) LayerDirs() []string {
	out := make([]string, 0, len(im.Layers))
	for i := len(im.Layers) - 1; i >= 0; i-- {
		out = append(out, im.store.layerDir(im.Layers[i].DiffID))
	}
	return out
}

// Size is the sum of the layers' blob sizes.
func (im *Image) Size() int64 {
	var n int64
	for _, l := range im.Layers {
		n += l.Size
	}
	return n
}

func hexOf(digest string) string { return strings.TrimPrefix(digest, "sha256:") }

func (s *Store) layerDir(diffID string) string {
	return filepath.Join(s.Dir, "layers", hexOf(diffID))
}

func (s *Store) imagePath(digest string) string {
	return filepath.Join(s.Dir, "images", hexOf(digest)+".json")
}

func (s *Store) refsPath() string { return filepath.Join(s.Dir, "refs.json") }

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

func (s *Store) readRefs() (map[string]string, error) {
	b, err := os.ReadFile(s.refsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	refs := map[string]string{}
	if err := json.Unmarshal(b, &refs); err != nil {
		return nil, fmt.Errorf("image cache %s: %w", s.refsPath(), err)
	}
	return refs, nil
}

func (s *Store) writeRefs(refs map[string]string) error {
	b, err := json.MarshalIndent(refs, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.refsPath(), append(b, '\n'))
}

// setRef points ref at the image with manifest digest.
func (s *Store) setRef(ref, digest string) error {
	unlock, err := s.refsLock()
	if err != nil {
		return err
	}
	defer unlock()
	refs, err := s.readRefs()
	if err != nil {
		return err
	}
	refs[ref] = digest
	return s.writeRefs(refs)
}

func (s *Store) loadImage(digest string) (*Image, error) {
	b, err := os.ReadFile(s.imagePath(digest))
	if err != nil {
		return nil, err
	}
	var im Image
	if err := json.Unmarshal(b, &im); err != nil {
		return nil, fmt.Errorf("image cache %s: %w", s.imagePath(digest), err)
	}
	im.store = s
	return &im, nil
}

func (s *Store) saveImage(im *Image) error {
	if err := os.MkdirAll(filepath.Join(s.Dir, "images"), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(im, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.imagePath(im.Digest), append(b, '\n'))
}

// complete reports whether every layer of im is unpacked in the cache.
func (s *Store) complete(im *Image) bool {
	for _, l := range im.Layers {
		if fi, err := os.Stat(s.layerDir(l.DiffID)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// ErrNotCached is returned by Lookup for a reference the cache lacks.
var ErrNotCached = errors.New("image not in the cache")

// Lookup finds a cached image by source, with all its layers, without
// touching the network.
func (s *Store) Lookup(src Source) (*Image, error) {
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	key := src.String()
	digest, ok := refs[key]
	if !ok && src.Kind == Registry {
		// A digest reference names the image itself.
		if d, isDigest := src.Ref.(interface{ DigestStr() string }); isDigest {
			digest, ok = d.DigestStr(), true
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotCached, key)
	}
	im, err := s.loadImage(digest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotCached, key)
	}
	if err != nil {
		return nil, err
	}
	if !s.complete(im) {
		return nil, fmt.Errorf("%w: %s (layers missing)", ErrNotCached, key)
	}
	return im, nil
}

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

// Package cache reads the image cache's records as package images writes
// them (layout in its doc): the reference table, image records, unpacked
// layers and the names images were given on the command line, and it
// looks a user up in an image's layers.
//
// It is apart from package images, which pulls through the registry
// client, so that the launch binary (launcher/nsenter's fastlaunch.go)
// can launch a cached image without linking that client: a name it was
// given before (names.json, written when the name was first resolved)
// leads to the image without parsing the reference, which only the
// registry client does as Docker does.
package cache

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultDir is the cache's default home (package images re-exports it).
const DefaultDir = "/var/lib/nsagent/images"

// ErrNotCached says the cache lacks an image (or one of its layers).
var ErrNotCached = errors.New("image not in the cache")

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
	Refs []string `json:"-"`
	// CacheDir is the cache it is in (set when it is read or pulled).
	CacheDir string `json:"-"`
}

// LayerDirs returns the unpacked layers' directories top first, the
// order overlayfs wants its lower directories in.
func (im *Image) LayerDirs() []string {
	out := make([]string, 0, len(im.Layers))
	for i := len(im.Layers) - 1; i >= 0; i-- {
		out = append(out, LayerDir(im.CacheDir, im.Layers[i].DiffID))
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

// LayerDir is where the layer with diffID is unpacked in the cache at root.
func LayerDir(root, diffID string) string { return filepath.Join(root, "layers", hexOf(diffID)) }

// ImagePath is the record of the image with manifest digest.
func ImagePath(root, digest string) string {
	return filepath.Join(root, "images", hexOf(digest)+".json")
}

// RefsPath is the reference table: canonical reference -> manifest digest.
func RefsPath(root string) string { return filepath.Join(root, "refs.json") }

// NamesPath is the table of names as given -> canonical reference.
func NamesPath(root string) string { return filepath.Join(root, "names.json") }

// ReadRefs reads the reference table (empty when there is none yet).
func ReadRefs(root string) (map[string]string, error) { return readTable(RefsPath(root)) }

// ReadNames reads the names table (empty when there is none yet).
func ReadNames(root string) (map[string]string, error) { return readTable(NamesPath(root)) }

func readTable(p string) (map[string]string, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	t := map[string]string{}
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("image cache %s: %w", p, err)
	}
	return t, nil
}

// LoadImage reads the record of the image with manifest digest.
func LoadImage(root, digest string) (*Image, error) {
	b, err := os.ReadFile(ImagePath(root, digest))
	if err != nil {
		return nil, err
	}
	var im Image
	if err := json.Unmarshal(b, &im); err != nil {
		return nil, fmt.Errorf("image cache %s: %w", ImagePath(root, digest), err)
	}
	im.CacheDir = root
	return &im, nil
}

// Complete reports whether every layer of im is unpacked in its cache.
func Complete(im *Image) bool {
	for _, l := range im.Layers {
		if fi, err := os.Stat(LayerDir(im.CacheDir, l.DiffID)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// Lookup finds the complete cached image a canonical reference (refs.json's
// key) names; a digest reference (REPO@sha256:HEX) names its image
// itself.
func Lookup(root, ref string) (*Image, error) {
	refs, err := ReadRefs(root)
	if err != nil {
		return nil, err
	}
	digest, ok := refs[ref]
	if !ok {
		if _, d, found := strings.Cut(ref, "@"); found && strings.HasPrefix(d, "sha256:") {
			digest, ok = d, true
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotCached, ref)
	}
	im, err := LoadImage(root, digest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotCached, ref)
	}
	if err != nil {
		return nil, err
	}
	if !Complete(im) {
		return nil, fmt.Errorf("%w: %s (layers missing)", ErrNotCached, ref)
	}
	return im, nil
}

// LookupName finds the cached image a name given on the command line
// (alpine, 127.0.0.1:5000/x:1) was resolved to before; ErrNotCached when
// the name is new or its image is gone.
func LookupName(root, name string) (*Image, error) {
	names, err := ReadNames(root)
	if err != nil {
		return nil, err
	}
	ref, ok := names[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotCached, name)
	}
	return Lookup(root, ref)
}

// LookupUser turns an image's USER (uid, uid:gid, name or name:group)
// into numeric ids, reading names from the image's own /etc/passwd and
// /etc/group, never the host's.
func (im *Image) LookupUser(user string) (uid, gid int, err error) {
	u, g, hasGroup := strings.Cut(user, ":")
	uid, err = strconv.Atoi(u)
	if err != nil {
		var pgid int
		uid, pgid, err = im.lookupName("etc/passwd", u, 2, 3)
		if err != nil {
			return 0, 0, fmt.Errorf("image user %q: %w", user, err)
		}
		gid = pgid
	}
	if hasGroup {
		if gid, err = strconv.Atoi(g); err != nil {
			if gid, _, err = im.lookupName("etc/group", g, 2, -1); err != nil {
				return 0, 0, fmt.Errorf("image group %q: %w", g, err)
			}
		}
	}
	if uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("image user %q: negative id", user)
	}
	return uid, gid, nil
}

// lookupName finds name in the colon-separated file rel of the image's
// topmost layer that has it, returning fields a and b (b < 0: none).
func (im *Image) lookupName(rel, name string, a, b int) (int, int, error) {
	for _, dir := range im.LayerDirs() {
		rootfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, 0, err
		}
		fd, err := unix.Openat2(rootfd, rel, &unix.OpenHow{
			Flags: unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
		})
		unix.Close(rootfd)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("read /%s: %w", rel, err)
		}
		f := os.NewFile(uintptr(fd), rel)
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR {
			f.Close()
			break // a whiteout: the file was deleted above the layers below
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Split(sc.Text(), ":")
			if len(fields) <= max(a, b) || fields[0] != name {
				continue
			}
			x, err := strconv.Atoi(fields[a])
			if err != nil {
				return 0, 0, fmt.Errorf("/%s: bad entry for %s", rel, name)
			}
			y := 0
			if b >= 0 {
				if y, err = strconv.Atoi(fields[b]); err != nil {
					return 0, 0, fmt.Errorf("/%s: bad entry for %s", rel, name)
				}
			}
			return x, y, nil
		}
		return 0, 0, fmt.Errorf("no %s in the image's /%s", name, rel)
	}
	return 0, 0, fmt.Errorf("the image has no /%s", rel)
}

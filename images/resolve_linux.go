package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/nsagent/nsagent/images/cache"
)

// Resolve returns the cached image src names, pulling it first when the
// cache lacks it: a cached image costs no network request at all (like
// `docker run`, a cached tag is not checked again).
func (s *Store) Resolve(ctx context.Context, src Source, o PullOptions) (*Image, error) {
	im, err := s.Lookup(src)
	if err == nil {
		s.rememberName(src)
		return im, nil
	}
	if !errors.Is(err, ErrNotCached) {
		return nil, err
	}
	return s.Pull(ctx, src, o)
}

// rememberName records what a registry reference as written resolves to
// (names.json), for the launch binary, which cannot parse references
// (package cache). The mapping is the registry client's, a function of
// the text alone, so a record never goes stale; what it names is looked
// up in refs.json each time. Failing to record it only costs that
// binary's launches of this name a hand-over to the full binary.
func (s *Store) rememberName(src Source) {
	if src.Kind != Registry || src.Given == "" {
		return
	}
	ref := src.String()
	if names, err := cache.ReadNames(s.Dir); err == nil && names[src.Given] == ref {
		return
	}
	_ = s.setEntry(cache.NamesPath(s.Dir), cache.ReadNames, src.Given, ref)
}

// RemoveReport says what Remove deleted.
type RemoveReport struct {
	Untagged []string
	Deleted  []string // image digests
	Layers   []string // layer diff ids
}

// ErrInUse is returned by Remove for an image a running workload's root
// is made of.
var ErrInUse = errors.New("image is in use by a running workload")

// Remove forgets the reference src (or, for a digest, every reference
// to that image) and deletes each image left without a reference and
// every layer no remaining image uses. Layers a running workload mounts
// are kept and the removal refused.
func (s *Store) Remove(src Source) (RemoveReport, error) {
	var rep RemoveReport
	unlock, err := s.lock(syscall.LOCK_EX)
	if err != nil {
		return rep, err
	}
	defer unlock()
	runlock, err := s.refsLock()
	if err != nil {
		return rep, err
	}
	defer runlock()
	refs, err := s.readRefs()
	if err != nil {
		return rep, err
	}
	key := src.String()
	digest, byRef := refs[key]
	if !byRef {
		// An image may be named by its digest (or a prefix of it, as
		// `nsagent images` prints it): every reference to it goes.
		want := strings.TrimPrefix(key, "docker.io/library/")
		want = strings.TrimPrefix(strings.TrimSuffix(want, ":latest"), "sha256:")
		for _, d := range refs {
			if len(want) >= 12 && strings.HasPrefix(hexOf(d), want) {
				digest = d
			}
		}
	}
	if digest == "" {
		return rep, fmt.Errorf("%w: %s", ErrNotCached, key)
	}
	im, err := s.loadImage(digest)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, err
	}
	for r, d := range refs {
		if d == digest && (!byRef || r == key) {
			delete(refs, r)
			rep.Untagged = append(rep.Untagged, r)
		}
	}
	for _, d := range refs {
		if d == digest {
			// Still named by another reference: only the name goes.
			return rep, s.writeRefs(refs)
		}
	}
	if im != nil {
		if inUse := s.mounted(im); inUse != "" {
			return RemoveReport{}, fmt.Errorf("%w: %s (%s)", ErrInUse, key, inUse)
		}
	}
	if err := s.writeRefs(refs); err != nil {
		return rep, err
	}
	if err := os.Remove(s.imagePath(digest)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, err
	}
	rep.Deleted = append(rep.Deleted, digest)
	if im == nil {
		return rep, nil
	}
	used := map[string]bool{}
	all, err := s.List()
	if err != nil {
		return rep, err
	}
	for _, o := range all {
		for _, l := range o.Layers {
			used[l.DiffID] = true
		}
	}
	for _, l := range im.Layers {
		if used[l.DiffID] {
			continue
		}
		if err := os.RemoveAll(s.layerDir(l.DiffID)); err != nil {
			return rep, err
		}
		used[l.DiffID] = true
		rep.Layers = append(rep.Layers, l.DiffID)
	}
	return rep, nil
}

// mounted names a process whose mount namespace has an overlay over one
// of im's layers, or "" if none: overlayfs shows its lower directories in
// the super options of /proc/PID/mountinfo. One process per mount
// namespace is read.
func (s *Store) mounted(im *Image) string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return ""
	}
	seen := map[string]bool{}
	var dirs []string
	for _, l := range im.Layers {
		dirs = append(dirs, s.layerDir(l.DiffID))
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/mnt"))
		if err != nil || seen[ns] {
			continue
		}
		seen[ns] = true
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "mountinfo"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, " - overlay ") {
				continue
			}
			for _, d := range dirs {
				if strings.Contains(line, d+":") || strings.Contains(line, d+",") || strings.HasSuffix(line, d) {
					return "pid " + strconv.Itoa(pid)
				}
			}
		}
	}
	return ""
}

// GC removes unpackings an interrupted pull left in tmp/ (a pull killed
// outright cannot clean up after itself). It waits for running pulls.
func (s *Store) GC() ([]string, error) {
	unlock, err := s.lock(syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.cleanTmp()
}

// cleanTmp empties tmp/; the caller holds the exclusive lock.
func (s *Store) cleanTmp() ([]string, error) {
	tmp := filepath.Join(s.Dir, "tmp")
	ents, err := os.ReadDir(tmp)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return out, err
		}
		out = append(out, e.Name())
	}
	return out, nil
}

package images

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Resolve returns the cached image src names, pulling it first when the
// cache lacks it: a cached image costs no network request at all (like
// `docker run`, a cached tag is not checked again).
func (s *Store) Resolve(ctx context.Context, src Source, o PullOptions) (*Image, error) {
	im, err := s.Lookup(src)
	if err == nil {
		return im, nil
	}
	if !errors.Is(err, ErrNotCached) {
		return nil, err
	}
	return s.Pull(ctx, src, o)
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

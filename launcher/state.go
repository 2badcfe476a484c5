package launcher

import (
	"crypto/rand"
	"encoding/hex"
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

// Status is where a workload is in its life.
type Status string

// Statuses, as `nsagent ps` shows them.
const (
	StatusCreated Status = "created"
	StatusRunning Status = "running"
	StatusExited  Status = "exited"
	// StatusDead is a workload recorded as running whose processes are
	// gone without its launcher recording an exit (the launcher was
	// killed): gc removes what it left.
	StatusDead Status = "dead"
)

// State is what is recorded of a workload in STATEDIR/ID/state.json.
type State struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Command []string `json:"command"`
	Rootfs  string   `json:"rootfs"`
	// Pid is the workload's init (its PID 1) in the host's PID namespace;
	// PidStart is its start time in clock ticks after boot, so a pid reused
	// by an unrelated process is not taken for the workload.
	Pid      int    `json:"pid"`
	PidStart uint64 `json:"pid_start,omitempty"`
	// MonitorPid is the launcher process that waits for the workload
	// (the foreground launch or the detached monitor).
	MonitorPid int        `json:"monitor_pid"`
	Status     Status     `json:"status"`
	ExitCode   int        `json:"exit_code"`
	OOMKilled  bool       `json:"oom_killed"`
	Created    time.Time  `json:"created"`
	Finished   *time.Time `json:"finished,omitempty"`
	Limits     Limits     `json:"limits"`
	// CgroupMode and CgroupPath say where the limits live: the path is
	// absolute from the root of each hierarchy (v1) or of the unified
	// hierarchy (v2).
	CgroupMode string     `json:"cgroup_mode"`
	CgroupPath string     `json:"cgroup_path"`
	Namespaces Namespaces `json:"namespaces"`
	Hostname   string     `json:"hostname,omitempty"`
	Network    string     `json:"network"`
	Net        *NetState  `json:"net,omitempty"`
	Detached   bool       `json:"detached,omitempty"`
	AutoRemove bool       `json:"auto_remove,omitempty"`
	LogPath    string     `json:"log_path,omitempty"`
	UID        int        `json:"uid"`
	GID        int        `json:"gid"`
	Cwd        string     `json:"cwd,omitempty"`
	Env        []string   `json:"env,omitempty"`
	// Seccomp, Caps and NoNewPrivs are the confinement the workload was
	// given (the seccomp mode or profile path; the capability set); exec
	// gives its commands the same.
	Seccomp    string   `json:"seccomp,omitempty"`
	Caps       []string `json:"caps,omitempty"`
	NoNewPrivs bool     `json:"no_new_privs"`
	Privileged bool     `json:"privileged,omitempty"`
}

// ErrNotFound is returned when no workload has the given name or id.
var ErrNotFound = errors.New("no such workload")

// ErrNameInUse is returned when a launch names a workload that exists.
var ErrNameInUse = errors.New("name already in use")

// Store keeps workload state under one directory (by default
// /run/nsagent): a directory per workload with state.json, written by
// rename so readers never see half a file, and a lock file serialising
// the changes that must not interleave (a name check and the entry that
// claims it).
type Store struct {
	Dir string
}

const stateFile = "state.json"

// Lock takes the store's exclusive lock; call the returned function to
// release it.
func (s Store) Lock() (func(), error) {
	if err := os.MkdirAll(s.Dir, 0o711); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	return func() { f.Close() }, nil
}

// WorkloadDir is the directory of one workload's state and files.
func (s Store) WorkloadDir(id string) string { return filepath.Join(s.Dir, id) }

// NewID returns a random 64-bit workload id in hex.
func NewID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// namesDir indexes workloads by name: a symlink NAME -> ID per workload,
// so that a launch checks its name and exec, kill, logs and rm find a
// name in one lookup instead of reading every entry's state.json (300
// exited workloads had made each launch 16 ms slower).
const namesDir = ".names"

func (s Store) nameLink(name string) string { return filepath.Join(s.Dir, namesDir, name) }

// Create claims st.Name and writes a new entry; the caller holds the lock.
func (s Store) Create(st *State) error {
	if err := s.indexNames(); err != nil {
		return err
	}
	link := s.nameLink(st.Name)
	if id, err := os.Readlink(link); err == nil {
		if _, err := os.Stat(filepath.Join(s.WorkloadDir(id), stateFile)); err == nil {
			return fmt.Errorf("%w: %q (workload %s)", ErrNameInUse, st.Name, id)
		}
		// The entry it named is gone (a launcher killed between claiming
		// the name and writing its state): the name is free.
		if err := os.Remove(link); err != nil {
			return fmt.Errorf("free name %q: %w", st.Name, err)
		}
	}
	if err := os.Symlink(st.ID, link); err != nil {
		return fmt.Errorf("claim name %q: %w", st.Name, err)
	}
	if err := os.Mkdir(s.WorkloadDir(st.ID), 0o711); err != nil {
		os.Remove(link)
		return fmt.Errorf("create workload state dir: %w", err)
	}
	if err := s.Save(st); err != nil {
		os.RemoveAll(s.WorkloadDir(st.ID))
		os.Remove(link)
		return err
	}
	return nil
}

// indexNames makes the name index if the state directory has none yet
// (one written by an older nsagent), from the entries it holds; the
// caller holds the lock.
func (s Store) indexNames() error {
	dir := filepath.Join(s.Dir, namesDir)
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	all, err := s.List()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(s.Dir, ".names-")
	if err != nil {
		return fmt.Errorf("index workload names: %w", err)
	}
	for _, st := range all {
		if err := os.Symlink(st.ID, filepath.Join(tmp, st.Name)); err != nil && !errors.Is(err, fs.ErrExist) {
			os.RemoveAll(tmp)
			return fmt.Errorf("index workload names: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("index workload names: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("index workload names: %w", err)
	}
	return nil
}

// Save writes st atomically (temp file and rename).
func (s Store) Save(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(s.WorkloadDir(st.ID), stateFile), append(b, '\n')); err != nil {
		return fmt.Errorf("write state of %s: %w", st.ID, err)
	}
	return nil
}

// Update applies fn to the stored state of id under the lock and saves
// it. It fails with ErrNotFound if the entry was removed meanwhile (by
// rm -f or gc), so a late writer never brings an entry back.
func (s Store) Update(id string, fn func(*State)) error {
	unlock, err := s.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := s.load(id)
	if err != nil {
		return err
	}
	fn(st)
	return s.Save(st)
}

func (s Store) load(id string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(s.WorkloadDir(id), stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state of %s: %w", id, err)
	}
	return &st, nil
}

// List returns every recorded workload, oldest first, with the status of
// those recorded as running corrected to dead when their process is gone.
func (s Store) List() ([]*State, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state dir: %w", err)
	}
	var out []*State
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || e.Name() == cacheDirName {
			continue
		}
		st, err := s.load(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // being created or removed
		}
		if err != nil {
			return nil, err
		}
		st.refresh()
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// Get finds a workload by name, full id or unique id prefix.
func (s Store) Get(ref string) (*State, error) {
	if ref == "" || strings.ContainsAny(ref, "/") || strings.HasPrefix(ref, ".") {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, ref)
	}
	if id, ok := s.idOfName(ref); ok {
		if st, err := s.load(id); err == nil {
			st.refresh()
			return st, nil
		}
	}
	if st, err := s.load(ref); err == nil {
		st.refresh()
		return st, nil
	}
	if len(ref) < 3 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	ents, err := os.ReadDir(s.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read state dir: %w", err)
	}
	var match []string
	for _, e := range ents {
		if e.IsDir() && e.Name() != cacheDirName && strings.HasPrefix(e.Name(), ref) {
			match = append(match, e.Name())
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	case 1:
		st, err := s.load(match[0])
		if err != nil {
			return nil, err
		}
		st.refresh()
		return st, nil
	}
	return nil, fmt.Errorf("workload id prefix %q is ambiguous", ref)
}

// idOfName looks a workload name up in the index or, in a state directory
// without one (written by an older nsagent; Create makes it), among the
// entries themselves.
func (s Store) idOfName(name string) (string, bool) {
	if id, err := os.Readlink(s.nameLink(name)); err == nil {
		return id, true
	}
	if _, err := os.Lstat(filepath.Join(s.Dir, namesDir)); err == nil {
		return "", false
	}
	all, _ := s.List()
	for _, st := range all {
		if st.Name == name {
			return st.ID, true
		}
	}
	return "", false
}

// Remove deletes a workload's state directory and frees its name; the
// caller holds the lock. The index goes with the last name in it, so
// that a state directory without workloads is as it was before the
// first.
func (s Store) Remove(id string) error {
	if id == "" || strings.ContainsAny(id, "/.") {
		return fmt.Errorf("invalid workload id %q", id)
	}
	if st, err := s.load(id); err == nil && st.Name != "" {
		link := s.nameLink(st.Name)
		if target, err := os.Readlink(link); err == nil && target == id {
			if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("free name %q: %w", st.Name, err)
			}
		}
	}
	if err := os.RemoveAll(s.WorkloadDir(id)); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(s.Dir, namesDir)) // fails while names are left in it
	return nil
}

// Alive reports whether the workload's init is still the process that
// was started (same pid and start time).
func (st *State) Alive() bool {
	if st.Pid <= 0 {
		return false
	}
	start, err := procStartTime(st.Pid)
	if err != nil {
		return false
	}
	return st.PidStart == 0 || start == st.PidStart
}

func (st *State) refresh() {
	if (st.Status == StatusRunning || st.Status == StatusCreated) && !st.Alive() && !pidAlive(st.MonitorPid) {
		st.Status = StatusDead
	}
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// procStartTime reads field 22 (starttime) of /proc/PID/stat.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStartTime(b)
}

// parseStartTime takes starttime from a /proc/PID/stat line; the command
// name may hold spaces and parentheses, so fields count from the last ')'.
func parseStartTime(b []byte) (uint64, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, errors.New("malformed stat: too few fields")
	}
	var v uint64
	_, err := fmt.Sscanf(f[19], "%d", &v)
	return v, err
}

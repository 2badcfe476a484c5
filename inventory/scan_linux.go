package inventory

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// userHZ is USER_HZ, the unit of start times in /proc/<pid>/stat. It is 100
// on every Linux architecture nsagent builds for (procfs assumes the same).
const userHZ = 100

// Scanner reads the host into Snapshots. It is safe for concurrent use.
type Scanner struct {
	paths   Paths
	fields  Fields
	workers int
	cache   ProcessCache
	fs      procfs.FS

	mu       sync.Mutex
	users    map[int]string
	usersMod time.Time
}

// NewScanner validates the roots in opts and returns a Scanner.
func NewScanner(opts Options) (*Scanner, error) {
	paths := opts.Paths.withDefaults()
	if err := paths.Validate(); err != nil {
		return nil, err
	}
	fs, err := procfs.NewFS(paths.Procfs)
	if err != nil {
		return nil, fmt.Errorf("open procfs %s: %w", paths.Procfs, err)
	}
	s := &Scanner{paths: paths, fields: opts.Fields, workers: opts.Workers, cache: opts.Cache, fs: fs}
	if s.fields == 0 {
		s.fields = AllFields
	}
	if s.workers <= 0 {
		s.workers = max(2, runtime.GOMAXPROCS(0))
	}
	return s, nil
}

// Paths returns the roots the scanner reads.
func (s *Scanner) Paths() Paths { return s.paths }

// Scan reads every process, the namespaces they and nsfs mounts and fds
// hold, and (if asked) the cgroup tree. Processes that exit mid-scan are
// counted in Stats.Vanished, not reported as errors.
func (s *Scanner) Scan(ctx context.Context) (*Snapshot, error) {
	start := time.Now()
	snap := &Snapshot{Time: start}

	root, err := unix.Open(s.paths.Procfs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open procfs %s: %w", s.paths.Procfs, err)
	}
	defer unix.Close(root)
	procs, stats, err := s.readProcesses(ctx, root)
	if err != nil {
		return nil, err
	}
	snap.Processes = procs
	snap.Stats = stats
	// The mount tables are read while this goroutine builds the
	// namespaces and reads the rows' details: they need only each mount
	// namespace's lowest pid, and building is serial work that would
	// otherwise leave a core idle.
	var mounts mountTables
	var reading sync.WaitGroup
	defer reading.Wait() // before root is closed, whatever returns
	if s.fields&FieldMounts != 0 {
		pids, inodes := mountNamespaceHolders(procs)
		reading.Go(func() { mounts = s.readMountTables(root, pids, inodes) })
	}
	snap.Namespaces, snap.byNS = s.buildNamespaces(procs)
	if s.fields&FieldDetails == 0 {
		// Only the processes a namespace is shown by need their command
		// line and user: a few hundred rows, not every process.
		var reps []*Process
		seen := make(map[int]bool)
		for _, n := range snap.Namespaces {
			if p := snap.Process(n.LowestPID()); p != nil && p.UID < 0 && !seen[p.PID] {
				seen[p.PID] = true
				reps = append(reps, p)
			}
		}
		s.parallel(len(reps), root, func(r *procReader, i int) { r.readDetails(reps[i]) })
	}

	users := s.loadUsers()
	boot := s.bootTime()
	for _, p := range procs {
		if p.UID >= 0 {
			p.User = users[p.UID]
			if p.User == "" {
				p.User = strconv.Itoa(p.UID)
			}
		}
		if !boot.IsZero() {
			p.Started = boot.Add(time.Duration(p.StartTicks) * time.Second / userHZ)
		}
	}
	if s.fields&FieldMounts != 0 {
		reading.Wait()
		s.addMountHolders(snap, mounts)
	}
	if s.fields&FieldNSRelations != 0 {
		s.addRelations(snap)
	}
	if s.fields&FieldNetInterfaces != 0 {
		s.addInterfaces(snap)
	}
	if s.fields&FieldCgroupTree != 0 {
		cg, err := ReadCgroups(s.paths.Cgroupfs)
		if err != nil {
			return nil, err
		}
		snap.Cgroups = cg
	}
	snap.Stats.Duration = time.Since(start)
	return snap, ctx.Err()
}

// readPIDs reads the numeric entries of the directory open at fd straight
// from getdents, a batch at a time: os.File.Readdirnames made a string of
// each of a few thousand names, a tenth of the time nsagent lsns spent
// before its workers started (4.4 ms under the bench load).
func readPIDs(fd int, buf []byte, emit func([]int)) error {
	batch := make([]int, 0, 512)
	for {
		n, err := getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		batch = batch[:0]
		for off := 0; off < n; {
			// struct linux_dirent64, as in readNSFDs.
			reclen := int(*(*uint16)(unsafe.Pointer(&buf[off+16])))
			name := buf[off+19 : off+reclen]
			off += reclen
			if pid, ok := decimalName(name); ok {
				batch = append(batch, pid)
			}
		}
		if len(batch) > 0 {
			emit(batch)
		}
	}
}

// pidQueue hands the pids listed so far to the scan's workers while the
// rest of the procfs root is still being listed: listing a few thousand
// processes takes getdents about 4 ms, which the workers spent waiting,
// a core idle.
type pidQueue struct {
	mu   sync.Mutex
	more sync.Cond
	pids []int
	next int
	done bool
}

func newPIDQueue() *pidQueue {
	q := &pidQueue{pids: make([]int, 0, 1024)}
	q.more.L = &q.mu
	return q
}

func (q *pidQueue) add(batch []int) {
	q.mu.Lock()
	q.pids = append(q.pids, batch...)
	q.mu.Unlock()
	q.more.Broadcast()
}

func (q *pidQueue) close() {
	q.mu.Lock()
	q.done = true
	q.mu.Unlock()
	q.more.Broadcast()
}

// take returns the next pid and its place in the listing; ok is false
// once every pid has been taken and the listing is over.
func (q *pidQueue) take() (j, pid int, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.next == len(q.pids) && !q.done {
		q.more.Wait()
	}
	if q.next == len(q.pids) {
		return 0, 0, false
	}
	j = q.next
	q.next++
	return j, q.pids[j], true
}

// readProcesses reads the processes on a pool of workers as this
// goroutine lists the procfs root, or those a PIDSource cache vouches for.
func (s *Scanner) readProcesses(ctx context.Context, root int) ([]*Process, Stats, error) {
	type read struct {
		j int
		p *Process
	}
	var got [64][]read                 // per worker, no locks
	var vanished, inaccessible [64]int // per worker
	workers := min(s.workers, len(vanished))
	q := newPIDQueue()
	var mayBeGone map[int]struct{}
	fromCache := false
	if src, ok := s.cache.(PIDSource); ok {
		var known []int
		if known, mayBeGone, fromCache = src.PIDs(); fromCache {
			q.pids, q.done = known, true
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := procReader{root: root, fields: s.fields, cache: s.cache, buf: make([]byte, 4096), dents: make([]byte, 8192), path: make([]byte, 0, 64)}
			for ctx.Err() == nil {
				j, pid, ok := q.take()
				if !ok {
					return
				}
				p, err := r.read(pid)
				switch {
				case errors.Is(err, errVanished):
					if _, gone := mayBeGone[pid]; !gone {
						vanished[w]++
					}
				case err != nil:
					inaccessible[w]++
					got[w] = append(got[w], read{j, p}) // may be partial; kept for the tree
				default:
					got[w] = append(got[w], read{j, p})
				}
			}
		}(w)
	}
	var err error
	if !fromCache {
		// The root Scan holds open is listed: getdents moves only its
		// offset, which the workers' openat calls relative to it ignore.
		err = readPIDs(root, make([]byte, 8<<10), func(batch []int) {
			if ctx.Err() == nil {
				q.add(batch)
			}
		})
		if err != nil {
			err = fmt.Errorf("list processes in %s: %w", s.paths.Procfs, err)
		}
	}
	q.close()
	wg.Wait()
	if err != nil {
		return nil, Stats{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Stats{}, err
	}
	out := make([]*Process, len(q.pids))
	for w := range workers {
		for _, g := range got[w] {
			out[g.j] = g.p
		}
	}
	procs := out[:0]
	for _, p := range out {
		if p != nil {
			procs = append(procs, p)
		}
	}
	// procfs lists processes in pid order; sorted for any other tree.
	if !slices.IsSortedFunc(procs, byPID) {
		slices.SortFunc(procs, byPID)
	}
	st := Stats{Processes: len(procs)}
	for w := 0; w < workers; w++ {
		st.Vanished += vanished[w]
		st.Inaccessible += inaccessible[w]
	}
	return procs, st, nil
}

func byPID(a, b *Process) int { return cmp.Compare(a.PID, b.PID) }

// parallel calls fn(r, i) for i in [0, n) on the scanner's workers, each
// with a procReader of its own.
func (s *Scanner) parallel(n, root int, fn func(r *procReader, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(s.workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := procReader{root: root, fields: s.fields, buf: make([]byte, 4096), dents: make([]byte, 8192), path: make([]byte, 0, 64)}
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(&r, i)
			}
		}()
	}
	wg.Wait()
}

// errVanished marks a process that exited while it was being read.
var errVanished = errors.New("process vanished")

// errInaccessible marks a process whose namespaces may not be read.
var errInaccessible = errors.New("process namespaces not accessible")

// procReader reads one process at a time relative to an open procfs root.
//
// It is written against openat/readlinkat/getdents with reused buffers
// instead of procfs.Proc: BenchmarkReadProcessProcfs against
// BenchmarkReadProcessDirect measured the procfs path at about three times
// the syscalls (59 against 17 per process) and nine times the allocations
// (os.Open registers every file with the poller), and the scan is the
// agent's hot path and all of `nsagent lsns`. Paths are built NUL-terminated
// in r.path and fd names are passed to readlinkat straight out of the
// getdents buffer, so reading a process allocates only its Process: the
// string paths of x/sys/unix's wrappers cost 37 allocations per process
// (BenchmarkScanLsnsFields), a tenth of the scan's CPU with the collector.
type procReader struct {
	root   int
	fields Fields
	cache  ProcessCache // nil: read everything
	buf    []byte       // file contents and link targets
	dents  []byte       // getdents buffer
	path   []byte       // NUL-terminated path being read
	pfx    int          // len of "<pid>/" at the start of path
}

// setPID starts r.path with "<pid>/".
func (r *procReader) setPID(pid int) {
	r.path = strconv.AppendInt(r.path[:0], int64(pid), 10)
	r.path = append(r.path, '/')
	r.pfx = len(r.path)
}

// at returns "<pid>/name" NUL-terminated, valid until the next call.
func (r *procReader) at(name string) []byte {
	r.path = append(append(r.path[:r.pfx], name...), 0)
	return r.path
}

// The reader's system calls are made raw, without telling the Go
// scheduler (entersyscall/exitsyscall), for the calls that cannot block
// under a procfs root: path lookups, namespace and fd links, fd
// directories, and the stat and status files. None of them sleeps on a
// lock another task can hold for long; the longest is a link read waiting
// out an execve of the target, which holds its exec_update_lock for a
// moment. Announced, each of these 10-50 µs calls is long enough for
// sysmon to hand the worker's P to another thread, which on a 2-core host
// turned into about 1,200 context switches a scan. Raw, `nsagent lsns`
// under the bench load (2,267 processes) measured 14% less CPU and 12%
// less wall time, and 160 context switches instead of 1,200 (perf stat,
// 10 runs each, paired). What can wait on another task's lock goes through
// the scheduler as usual: cmdline (the target's mmap lock), cgroup
// (cgroup_mutex) and mountinfo (the namespace semaphore), so one stuck
// process stalls only its worker, never the agent's other goroutines or a
// garbage collection.

// openat, readlinkat and getdents take NUL-terminated byte paths: the
// x/sys/unix wrappers copy each string path into a new allocation.
func openat(dirfd int, path []byte, flags int) (int, error) {
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&path[0])), uintptr(flags|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func readlinkat(dirfd int, path *byte, buf []byte) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func closeFD(fd int) { _, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

func getdents(fd int, buf []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_GETDENTS64, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// readRaw is read(2) for files whose read cannot block (stat, status).
func readRaw(fd int, buf []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// read reads /proc/<pid>. A process whose namespaces are unreadable comes
// back with its NS zeroed and errInaccessible.
func (r *procReader) read(pid int) (*Process, error) {
	if r.cache != nil {
		if old := r.cache.Unchanged(pid); old != nil {
			p := *old
			return &p, nil
		}
	}
	// Paths relative to the procfs root ("1234/stat") rather than an fd of
	// /proc/1234: opening, fstat-ing and closing that directory would be
	// three more syscalls per process, a fifth of the scan.
	r.setPID(pid)
	p := &Process{PID: pid, UID: -1}
	if r.fields&FieldTree != 0 {
		if err := r.readStat(p); err != nil {
			return nil, err
		}
		if r.cache != nil && p.State != "Z" { // a zombie has lost its namespaces: read it
			if old := r.cache.Match(pid, p.StartTicks, p.Comm); old != nil {
				o := *old
				o.PPID, o.State, o.Threads = p.PPID, p.State, p.Threads
				return &o, nil
			}
		}
	}
	if r.fields&FieldDetails != 0 {
		r.readDetails(p)
	}
	if r.fields&FieldSecurity != 0 {
		if b, err := r.readFile(r.at("status")); err == nil {
			if st, err := parseStatus(b); err == nil {
				p.Security = st.Security
				if st.EUID >= 0 {
					// The owner of /proc/<pid> is root for a non-dumpable
					// process; status has the real effective uid.
					p.UID = st.EUID
				}
			}
		}
	}
	if r.fields&FieldCgroupRefs != 0 {
		if b, err := r.readFileWaiting(r.at("cgroup")); err == nil {
			p.Cgroups, _ = parseCgroupFile(b)
		}
	}
	if r.fields&FieldFDs != 0 && !p.Kernel { // kernel threads hold no fds
		p.nsFDs = r.readNSFDs()
	}
	var nsErr error
	read := false
	for i := range NSTypes {
		n, err := readlinkat(r.root, &r.at(nsLinks[i])[0], r.buf)
		if errors.Is(err, unix.ENOENT) {
			// A zombie has lost every namespace but its pid and user ones,
			// where lsns still counts it (and so does nsagent); a kernel
			// without time namespaces has no time link. A process gone
			// altogether has none left.
			continue
		}
		if err != nil {
			nsErr = err
			break
		}
		ino, ok := nsLinkInode(r.buf[:n])
		if !ok {
			nsErr = fmt.Errorf("namespace link %q: want TYPE:[INODE]", r.buf[:n])
			break
		}
		p.NS[i] = ino
		read = true
	}
	if nsErr == nil && !read {
		nsErr = unix.ENOENT
	}
	if nsErr != nil {
		p.NS = NSSet{}
		if errors.Is(nsErr, unix.EACCES) || errors.Is(nsErr, unix.EPERM) {
			return p, errInaccessible
		}
		if p.State == "Z" {
			return p, nil // a zombie has no namespaces left; keep it for the tree
		}
		return nil, vanishedOr(nsErr)
	}
	return p, nil
}

// nsLinks are the ns/ entries of NSTypes, in order.
var nsLinks = func() (l [numNSTypes]string) {
	for i, t := range NSTypes {
		l[i] = "ns/" + string(t)
	}
	return l
}()

// readStat reads /proc/<pid>/stat into p.
func (r *procReader) readStat(p *Process) error {
	b, err := r.readFile(r.at("stat"))
	if err != nil {
		return vanishedOr(err)
	}
	ps, err := parseStat(b)
	if err != nil {
		return fmt.Errorf("pid %d: %w", p.PID, err)
	}
	p.PPID, p.Comm, p.State = ps.PPID, ps.Comm, ps.State
	p.Threads, p.StartTicks, p.Kernel = ps.Threads, ps.StartTicks, ps.Kernel
	return nil
}

// readDetails reads what only a displayed process needs: its command line
// and the owner of /proc/<pid> (lsns's and ps's user: the effective uid,
// except for non-dumpable processes, which status corrects), and its stat
// if the scan did not read every process's. A process that exited
// meanwhile keeps what it had.
func (r *procReader) readDetails(p *Process) {
	r.setPID(p.PID)
	if r.fields&FieldTree == 0 && p.Comm == "" {
		_ = r.readStat(p)
	}
	var st unix.Stat_t
	if p.UID < 0 && unix.Fstatat(r.root, strconv.Itoa(p.PID), &st, 0) == nil {
		p.UID = int(st.Uid)
	}
	if b, err := r.readFileWaiting(r.at("cmdline")); err == nil {
		p.Cmdline = parseCmdline(b)
	}
}

// readNSFDs returns the open descriptors of the process r.setPID named
// that refer to namespaces. Unreadable fd directories (other users'
// processes without CAP_SYS_PTRACE, exiting processes) yield none.
func (r *procReader) readNSFDs() []nsFD {
	fd, err := openat(r.root, r.at("fd"), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil
	}
	defer closeFD(fd)
	var out []nsFD
	for {
		// getdents straight into a buffer: os.File would register the
		// descriptor with the poller and probe its kind, two more
		// syscalls per process for nothing.
		n, err := getdents(fd, r.dents)
		if err != nil || n <= 0 {
			break
		}
		for off := 0; off < n; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type
			// u8, then the NUL-terminated name, which readlinkat takes
			// from where it lies.
			reclen := int(*(*uint16)(unsafe.Pointer(&r.dents[off+16])))
			name := r.dents[off+19 : off+reclen]
			off += reclen
			num, ok := decimalName(name)
			if !ok {
				continue // . and ..
			}
			m, err := readlinkat(fd, &name[0], r.buf)
			if err != nil {
				continue
			}
			target := r.buf[:m]
			t := nsLinkType(target)
			if t == "" {
				// A descriptor opened through an nsfs bind mount reads as
				// the mount's path, and as "/" once the mount is gone (ip
				// netns delete): then only the descriptor keeps the
				// namespace alive. Ask the kernel about those few.
				if string(target) == "/" || bytes.Contains(target, []byte("netns/")) {
					if k, ok := nsOfFD(fd, strconv.Itoa(num)); ok {
						out = append(out, nsFD{fd: num, key: k})
					}
				}
				continue
			}
			if ino, ok := nsLinkInode(target); ok {
				out = append(out, nsFD{fd: num, key: NSKey{t, ino}})
			}
		}
		if n < len(r.dents)-512 {
			break // a short batch is the last one: saves the call that returns 0
		}
	}
	return out
}

// decimalName parses a NUL-terminated directory entry name that is a
// decimal number: an fd in /proc/PID/fd, a process in /proc.
func decimalName(name []byte) (int, bool) {
	n := 0
	i := 0
	for ; i < len(name) && name[i] != 0; i++ {
		c := name[i]
		if c < '0' || c > '9' || i > 9 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, i > 0
}

// readFile reads a small procfs file whose read cannot block (stat,
// status), path relative to the procfs root and NUL-terminated, into
// r.buf, growing it as needed. The result aliases r.buf until the next
// call.
func (r *procReader) readFile(path []byte) ([]byte, error) { return r.readWith(path, readRaw) }

// readFileWaiting reads a file whose read may wait on another task's lock
// (cmdline, cgroup, mountinfo) as readFile does, through the scheduler.
func (r *procReader) readFileWaiting(path []byte) ([]byte, error) { return r.readWith(path, unix.Read) }

func (r *procReader) readWith(path []byte, read func(int, []byte) (int, error)) ([]byte, error) {
	fd, err := openat(r.root, path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer closeFD(fd)
	n := 0
	for {
		if n == len(r.buf) {
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
		m, err := read(fd, r.buf[n:])
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, err
		}
		if m == 0 {
			return r.buf[:n], nil
		}
		n += m
		if n < len(r.buf) {
			// procfs fills the buffer as far as the file goes: a short
			// read is the end, and saves the read that returns 0.
			return r.buf[:n], nil
		}
	}
}

// vanishedOr maps the errors of a process that exited to errVanished.
func vanishedOr(err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return errVanished
	}
	return err
}

// loadUsers returns uid → name from the host's /etc/passwd, re-reading it
// only when it changed.
func (s *Scanner) loadUsers() map[int]string {
	path := filepath.Join(s.paths.Rootfs, "etc/passwd")
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(path)
	if err != nil {
		return s.users
	}
	if s.users != nil && fi.ModTime().Equal(s.usersMod) {
		return s.users
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return s.users
	}
	s.users, s.usersMod = parsePasswd(b), fi.ModTime()
	return s.users
}

// bootTime reads btime from <procfs>/stat; zero if it cannot.
func (s *Scanner) bootTime() time.Time {
	st, err := s.fs.Stat()
	if err != nil {
		return time.Time{}
	}
	return time.Unix(int64(st.BootTime), 0)
}

// buildNamespaces groups processes by namespace.
func (s *Scanner) buildNamespaces(procs []*Process) ([]*Namespace, map[NSKey]*Namespace) {
	// The namespaces are built in two passes: the first makes them (in
	// slabs, not one by one) and counts their processes, the second
	// fills their PIDs from one array cut at the final lengths. Appended
	// one by one, the host's namespaces' lists (every process is in
	// them) grew through a dozen copies each; on a host where fresh
	// memory costs a page fault per 4 KiB touched, the build took 7 ms of
	// `nsagent lsns` under the bench load. Consecutive processes mostly
	// share namespaces (a container's, the host's), so each pass keeps
	// the last namespace of each type and skips the map for a repeat.
	m := make(map[NSKey]*Namespace, 64+len(procs)/2)
	var slab []Namespace
	var last [numNSTypes]*Namespace
	lookup := func(i int, ino uint64, create bool) *Namespace {
		if n := last[i]; n != nil && n.Inode == ino {
			return n
		}
		k := NSKey{NSTypes[i], ino}
		n := m[k]
		if n == nil && create {
			if len(slab) == cap(slab) {
				slab = make([]Namespace, 0, 128)
			}
			slab = append(slab, Namespace{Type: k.Type, Inode: ino})
			n = &slab[len(slab)-1]
			m[k] = n
		}
		last[i] = n
		return n
	}
	total := 0
	for _, p := range procs {
		for i, ino := range p.NS {
			if ino != 0 {
				lookup(i, ino, true).nprocs++
				total++
			}
		}
	}
	pids := make([]int, total)
	for _, n := range m {
		n.PIDs, pids = pids[:0:n.nprocs], pids[n.nprocs:]
	}
	last = [numNSTypes]*Namespace{}
	for _, p := range procs { // sorted by pid, so PIDs come out sorted
		for i, ino := range p.NS {
			if ino != 0 {
				n := lookup(i, ino, false)
				n.PIDs = append(n.PIDs, p.PID)
			}
		}
	}
	if s.fields&FieldFDs != 0 {
		s.addFDHolders(procs, m)
	}
	return sortNamespaces(m), m
}

// sortNamespaces returns the namespaces of m ordered by inode, then type.
func sortNamespaces(m map[NSKey]*Namespace) []*Namespace {
	out := make([]*Namespace, 0, len(m))
	for _, n := range m {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *Namespace) int {
		if c := cmp.Compare(a.Inode, b.Inode); c != 0 {
			return c
		}
		return cmp.Compare(a.Type, b.Type)
	})
	return out
}

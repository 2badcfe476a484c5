//go:build linux

package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// These benchmarks read the live /proc, so their figures depend on the
// host's load; scripts/bench/lsns.sh runs them under its 2,000-process
// load. Run as root, or most processes' namespaces are unreadable and the
// per-process figures describe a cheaper path.

// benchScan runs full scans with fields and reports the per-process cost
// beside the per-scan one: a scan's cost grows with the process count, so
// only the per-process figures compare across hosts and loads.
func benchScan(b *testing.B, fields Fields) {
	s, err := NewScanner(Options{Fields: fields})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Scan(ctx); err != nil { // warm caches, /etc/passwd
		b.Fatal(err)
	}
	b.ReportAllocs()
	var procs, namespaces int
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		snap, err := s.Scan(ctx)
		if err != nil {
			b.Fatal(err)
		}
		procs += snap.Stats.Processes
		namespaces = len(snap.Namespaces)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if procs == 0 {
		b.Fatal("scan found no processes")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(procs), "ns/process")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(procs), "allocs/process")
	b.ReportMetric(float64(procs)/float64(b.N), "processes")
	b.ReportMetric(float64(namespaces), "namespaces")
}

// BenchmarkScan is the full scan every view can ask for.
func BenchmarkScan(b *testing.B) { benchScan(b, AllFields) }

// BenchmarkScanLsnsFields is the scan `nsagent lsns` runs with its default
// columns: namespace fds and nsfs mounts, no relations, no cgroup tree.
func BenchmarkScanLsnsFields(b *testing.B) { benchScan(b, FieldFDs|FieldMounts) }

// noFields selects none of the optional parts: a bit no Field uses, since
// zero means AllFields.
const noFields Fields = 1 << 30

// BenchmarkScanParts prices each optional part of the lsns scan by taking
// it away: the base (namespace links; stat and command line only for the
// namespaces' representatives, as lsns), base plus fds, base
// plus mounts.
func BenchmarkScanParts(b *testing.B) {
	for _, c := range []struct {
		name   string
		fields Fields
	}{
		{"base", noFields},
		{"fds", FieldFDs},
		{"mounts", FieldMounts},
	} {
		b.Run(c.name, func(b *testing.B) { benchScan(b, c.fields) })
	}
}

// benchPIDs lists the host's processes once for the per-process benchmarks.
func benchPIDs(b *testing.B) []int {
	s, err := NewScanner(Options{})
	if err != nil {
		b.Fatal(err)
	}
	pids, err := s.listPIDs()
	if err != nil {
		b.Fatal(err)
	}
	if len(pids) == 0 {
		b.Fatal("no processes in /proc")
	}
	return pids
}

// The two ReadProcess benchmarks check the claim procReader is written on
// (scan_linux.go): that reading one process through prometheus/procfs
// costs about three times the syscalls and allocations of the direct
// openat/readlinkat reader. Both read the same things: stat, cmdline,
// status, cgroup, the namespace links and the owner's uid. One op is one
// process; the loop cycles through the host's processes so that every kind
// (kernel threads, containers, the load's sleeps) is weighed as often as it
// occurs. Processes that exit meanwhile count as a cheap op on both sides.
// scripts/bench/lsns.sh counts the syscalls of each with perf.

// BenchmarkReadProcessProcfs reads processes through prometheus/procfs.
func BenchmarkReadProcessProcfs(b *testing.B) {
	pids := benchPIDs(b)
	fs, err := procfs.NewFS(DefaultPaths.Procfs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var failed int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := readProcfs(fs, pids[i%len(pids)]); err != nil {
			failed++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
}

// readProcfs reads with procfs what procReader.read reads with
// FieldTree|FieldSecurity|FieldCgroupRefs; NewStatus carries the uid.
func readProcfs(fs procfs.FS, pid int) error {
	p, err := fs.Proc(pid)
	if err != nil {
		return err
	}
	if _, err := p.Stat(); err != nil {
		return err
	}
	if _, err := p.CmdLine(); err != nil {
		return err
	}
	if _, err := p.NewStatus(); err != nil {
		return err
	}
	if _, err := p.Cgroups(); err != nil {
		return err
	}
	_, err = p.Namespaces()
	return err
}

// BenchmarkReadProcessDirect reads processes with the scan's own reader.
func BenchmarkReadProcessDirect(b *testing.B) {
	pids := benchPIDs(b)
	root, err := unix.Open(DefaultPaths.Procfs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(root)
	r := procReader{root: root, fields: FieldTree | FieldSecurity | FieldCgroupRefs, buf: make([]byte, 4096)}
	b.ReportAllocs()
	var failed int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.read(pids[i%len(pids)]); err != nil && !errors.Is(err, errInaccessible) {
			failed++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
}

// TestBenchReadersAgree keeps the two benchmarked readers comparable: on
// this process both must read the same pid, ppid, uid and namespaces, or
// the benchmark compares different work.
func TestBenchReadersAgree(t *testing.T) {
	fs, err := procfs.NewFS(DefaultPaths.Procfs)
	if err != nil {
		t.Fatal(err)
	}
	root, err := unix.Open(DefaultPaths.Procfs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root)
	pid := os.Getpid()
	r := procReader{root: root, fields: FieldTree | FieldSecurity | FieldCgroupRefs, buf: make([]byte, 4096)}
	got, err := r.read(pid)
	if err != nil {
		t.Fatalf("direct read of pid %d: %v", pid, err)
	}
	p, err := fs.Proc(pid)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Stat()
	if err != nil {
		t.Fatal(err)
	}
	status, err := p.NewStatus()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := p.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	if got.PPID != st.PPID || got.Comm != st.Comm {
		t.Errorf("direct ppid %d comm %q, procfs ppid %d comm %q", got.PPID, got.Comm, st.PPID, st.Comm)
	}
	if uint64(got.UID) != status.UIDs[1] {
		t.Errorf("direct uid %d, procfs euid %d", got.UID, status.UIDs[1])
	}
	if len(got.Cgroups) == 0 {
		t.Errorf("direct reader read no cgroups")
	}
	for i, typ := range NSTypes {
		n, ok := ns[string(typ)]
		if !ok {
			continue // kernel without this type
		}
		if uint64(n.Inode) != got.NS[i] {
			t.Errorf("%s: direct inode %d, procfs %d", typ, got.NS[i], n.Inode)
		}
	}
}

// listPIDs lists the numeric entries of the procfs root, sorted.
func (s *Scanner) listPIDs() ([]int, error) {
	fd, err := unix.Open(s.paths.Procfs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	defer closeFD(fd)
	var pids []int
	if err := readPIDs(fd, make([]byte, 8<<10), func(batch []int) { pids = append(pids, batch...) }); err != nil {
		return nil, fmt.Errorf("list processes in %s: %w", s.paths.Procfs, err)
	}
	// procfs lists processes in pid order; sorted for any other tree.
	if !slices.IsSorted(pids) {
		slices.Sort(pids)
	}
	return pids, nil
}

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
	"github.com/nsagent/nsagent/inventory"
)

func fixturePaths(layout string) inventory.Paths {
	root := filepath.Join("..", "inventory", "testdata", "fixtures", layout)
	return inventory.Paths{Procfs: filepath.Join(root, "proc"), Cgroupfs: filepath.Join(root, "cgroup"), Rootfs: filepath.Join(root, "rootfs")}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func snapJSON(t *testing.T, s *inventory.Snapshot) string {
	t.Helper()
	b, err := json.Marshal(struct {
		P []*inventory.Process
		N []*inventory.Namespace
	}{s.Processes, s.Namespaces})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSharedAndCached: concurrent requests share one scan; a scan younger
// than MinInterval is served again; the next one reuses every unchanged
// process and yields the same processes and namespaces; FullInterval
// forces a full re-read.
func TestSharedAndCached(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	a, err := New(Options{Paths: fixturePaths("hybrid"), MinInterval: 5 * time.Second, FullInterval: time.Minute, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()

	var wg sync.WaitGroup
	scans := make([]*Scan, 8)
	for i := range scans {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := a.Scan(ctx)
			if err != nil {
				t.Error(err)
			}
			scans[i] = s
		}(i)
	}
	wg.Wait()
	st := a.Stats()
	if n := st.Scans["full"] + st.Scans["incremental"]; n != 1 {
		t.Fatalf("8 concurrent requests ran %d scans, want 1", n)
	}
	for _, s := range scans[1:] {
		if s != scans[0] {
			t.Fatal("concurrent requests got different scans")
		}
	}
	first := scans[0]
	if !first.Full || first.Read != len(first.Snapshot.Processes) || first.Reused != 0 {
		t.Errorf("first scan: full=%v read=%d reused=%d, want a full read of %d", first.Full, first.Read, first.Reused, len(first.Snapshot.Processes))
	}

	clock.add(4 * time.Second)
	if s, _ := a.Scan(ctx); s != first {
		t.Error("a scan younger than MinInterval was not served again")
	}

	clock.add(2 * time.Second)
	second, err := a.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || second.Full {
		t.Fatalf("want a new incremental scan, got same=%v full=%v", second == first, second.Full)
	}
	zombies := 0 // a zombie is always read again: its namespaces are gone
	for _, p := range second.Snapshot.Processes {
		if p.State == "Z" {
			zombies++
		}
	}
	if second.Reused != len(second.Snapshot.Processes)-zombies || second.Read != zombies {
		t.Errorf("incremental scan of an unchanged host: reused %d read %d of %d (%d zombies)", second.Reused, second.Read, len(second.Snapshot.Processes), zombies)
	}
	if a, b := snapJSON(t, first.Snapshot), snapJSON(t, second.Snapshot); a != b {
		t.Errorf("incremental scan differs from the full one:\n%s\n%s", a, b)
	}
	if second.Containers == nil || len(second.Containers.Containers) != len(first.Containers.Containers) {
		t.Errorf("containers not discovered on the incremental scan")
	}

	clock.add(time.Minute)
	third, _ := a.Scan(ctx)
	if !third.Full || third.Reused != 0 {
		t.Errorf("after FullInterval: full=%v reused=%d, want a full re-read", third.Full, third.Reused)
	}
}

// TestLiveReuse: on the live host, a process that exec's a new program
// under the same pid is read again, not served from the cache, with the
// proc connector and without it.
func TestLiveReuse(t *testing.T) {
	testutil.RequireRoot(t)
	for _, events := range []bool{true, false} {
		name := "stat"
		if events {
			name = "proc-connector"
		}
		t.Run(name, func(t *testing.T) {
			a, err := New(Options{MinInterval: time.Nanosecond, ProcEvents: events})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if events && !a.Stats().ConnectorUp {
				testutil.Unavailable(t, "the proc connector (CAP_NET_ADMIN in the host's network namespace)")
			}
			cmd := exec.Command("sh", "-c", "read x; exec sleep 60")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			testutil.Start(t, cmd)
			pid := cmd.Process.Pid
			ctx := context.Background()
			s1, err := a.Scan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if p := s1.Snapshot.Process(pid); p == nil || p.Comm != "sh" {
				t.Fatalf("first scan: pid %d = %+v, want sh", pid, p)
			}
			stdin.Write([]byte("\n"))
			comm := filepath.Join("/proc", strconv.Itoa(pid), "comm")
			for i := 0; i < 100; i++ {
				if b, _ := os.ReadFile(comm); strings.TrimSpace(string(b)) == "sleep" {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // let the exec event arrive
			s2, err := a.Scan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if p := s2.Snapshot.Process(pid); p == nil || p.Comm != "sleep" || len(p.Cmdline) != 2 || p.Cmdline[0] != "sleep" {
				t.Errorf("after exec: pid %d = %+v, want sleep 60 read afresh", pid, p)
			}
			if s2.Reused == 0 {
				t.Errorf("second scan reused nothing (read %d)", s2.Read)
			}
			t.Logf("second scan: reused %d, read %d", s2.Reused, s2.Read)
		})
	}
}

// TestLiveEventList: with the proc connector up, an incremental scan takes
// its processes from the last scan and the events since, not from listing
// /proc, and that list stays true: a new process appears, a killed and
// reaped one goes, and a zombie (whose reaping sends no event) goes once
// its parent reaps it.
func TestLiveEventList(t *testing.T) {
	testutil.RequireRoot(t)
	a, err := New(Options{MinInterval: time.Nanosecond, ProcEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !a.Stats().ConnectorUp {
		testutil.Unavailable(t, "the proc connector (CAP_NET_ADMIN in the host's network namespace)")
	}
	ctx := context.Background()
	scan := func() *Scan {
		t.Helper()
		time.Sleep(100 * time.Millisecond) // let the events arrive
		s, err := a.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	doomed := testutil.Start(t, exec.Command("sleep", "60"))
	scan() // full
	scan() // armed: the next ones may use the events
	s := scan()
	if s.Snapshot.Process(doomed.Process.Pid) == nil || s.Reused == 0 {
		t.Fatalf("incremental scan: doomed pid %d missing or nothing reused (reused %d)", doomed.Process.Pid, s.Reused)
	}

	// A parent that does not reap its exited child until told to.
	parent := exec.Command("sh", "-c", "sleep 0.05 & echo $!; read x; wait")
	stdin, err := parent.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	testutil.Start(t, parent)
	var zpid int
	if _, err := fmt.Fscan(out, &zpid); err != nil {
		t.Fatal(err)
	}
	fresh := testutil.Start(t, exec.Command("sleep", "60"))
	_ = doomed.Process.Kill()
	_ = doomed.Wait()
	time.Sleep(200 * time.Millisecond) // the child exits: a zombie

	s = scan()
	if p := s.Snapshot.Process(fresh.Process.Pid); p == nil || p.Comm != "sleep" {
		t.Errorf("new process %d: %+v, want sleep", fresh.Process.Pid, p)
	}
	if p := s.Snapshot.Process(doomed.Process.Pid); p != nil {
		t.Errorf("killed and reaped pid %d still listed: %+v", doomed.Process.Pid, p)
	}
	if p := s.Snapshot.Process(zpid); p == nil || p.State != "Z" {
		t.Errorf("zombie %d: %+v, want state Z", zpid, p)
	}
	if s.Reused == 0 {
		t.Errorf("scan reused nothing: the connector's list was not used")
	}

	stdin.Write([]byte("\n")) // the parent reaps the zombie and exits
	_ = parent.Wait()
	for i := 0; i < 3; i++ {
		s = scan()
	}
	if p := s.Snapshot.Process(zpid); p != nil {
		t.Errorf("reaped zombie %d still listed: %+v", zpid, p)
	}
	if p := s.Snapshot.Process(parent.Process.Pid); p != nil {
		t.Errorf("exited parent %d still listed: %+v", parent.Process.Pid, p)
	}
}

package inventory_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nsagent/nsagent/internal/testutil"
	"github.com/nsagent/nsagent/inventory"
)

// TestZombieCountedLikeLsns: a zombie keeps its pid and user namespaces
// (their links still read) and util-linux lsns counts it there. So must
// the scan, with the lsns fields (no stat file read) and with all of them
// (the tree keeps the zombie).
func TestZombieCountedLikeLsns(t *testing.T) {
	testutil.RequireRoot(t)
	parent := testutil.Start(t, exec.Command("sh", "-c", `sh -c "exit 0" & exec sleep 30`))
	var zombie int
	for end := time.Now().Add(5 * time.Second); zombie == 0 && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		zombie = zombieChild(parent.Process.Pid)
	}
	if zombie == 0 {
		t.Fatalf("no zombie child of %d", parent.Process.Pid)
	}
	pidNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", zombie))
	if err != nil {
		t.Fatalf("zombie %d's pid namespace link: %v", zombie, err)
	}
	ino, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(pidNS, "pid:["), "]"), 10, 64)
	for name, fields := range map[string]inventory.Fields{"lsns fields": inventory.FieldFDs | inventory.FieldMounts, "all fields": inventory.AllFields} {
		sc, err := inventory.NewScanner(inventory.Options{Fields: fields})
		if err != nil {
			t.Fatal(err)
		}
		snap, err := sc.Scan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n := snap.Namespace(inventory.NSPID, ino)
		if n == nil || !slices.Contains(n.PIDs, zombie) {
			t.Errorf("%s: zombie %d not counted in its pid namespace %d", name, zombie, ino)
		}
		if p := snap.Process(zombie); p == nil || (fields&inventory.FieldTree != 0 && p.State != "Z") {
			t.Errorf("%s: zombie %d in the scan as %+v", name, zombie, p)
		}
	}
}

// zombieChild returns a child of pid in state Z, or 0.
func zombieChild(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(b)) {
		c, _ := strconv.Atoi(f)
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c))
		if err != nil {
			continue
		}
		s := string(st)
		if i := strings.LastIndexByte(s, ')'); i > 0 && strings.HasPrefix(s[i+1:], " Z") {
			return c
		}
	}
	return 0
}

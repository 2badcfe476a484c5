package launcher

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newState(id, name string) *State {
	return &State{ID: id, Name: name, Status: StatusExited, Created: time.Now()}
}

// TestStoreNameIndex checks the name index: a name is claimed once, found
// by name, id and id prefix, freed by Remove, and a state directory left
// without workloads is as it was before the first.
func TestStoreNameIndex(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	a := newState("aaaa000000000001", "web")
	if err := s.Create(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(newState("bbbb000000000002", "web")); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("second web: %v, want ErrNameInUse", err)
	}
	if _, err := os.Stat(s.WorkloadDir("bbbb000000000002")); !os.IsNotExist(err) {
		t.Errorf("a refused launch left its entry: %v", err)
	}
	if err := s.Create(newState("bbbb000000000002", "db")); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"web": a.ID, "db": "bbbb000000000002", a.ID: a.ID, "aaaa": a.ID, "bbb": "bbbb000000000002"} {
		st, err := s.Get(ref)
		if err != nil || st.ID != want {
			t.Errorf("Get(%q) = %v, %v; want %s", ref, st, err, want)
		}
	}
	for _, ref := range []string{"nope", "..", ".names", "a/b", ""} {
		if _, err := s.Get(ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q): %v, want ErrNotFound", ref, err)
		}
	}
	if err := s.Remove(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(newState("cccc000000000003", "web")); err != nil {
		t.Errorf("web after its workload was removed: %v", err)
	}
	for _, id := range []string{"bbbb000000000002", "cccc000000000003"} {
		if err := s.Remove(id); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(s.Dir); len(ents) != 0 {
		t.Errorf("state dir after the last workload: %v, want empty", ents)
	}
}

// TestStoreNameIndexStaleAndOld checks a name whose entry is gone (a
// launcher killed between claiming it and writing its state) is free, and
// that a state directory written without an index (an older nsagent) gets
// one from its entries before a name is claimed.
func TestStoreNameIndexStaleAndOld(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(s.Dir, namesDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dddd000000000004", s.nameLink("ghost")); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(newState("eeee000000000005", "ghost")); err != nil {
		t.Errorf("name of a vanished entry: %v, want it free", err)
	}

	old := Store{Dir: t.TempDir()}
	st := newState("ffff000000000006", "legacy")
	if err := os.Mkdir(old.WorkloadDir(st.ID), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := old.Save(st); err != nil {
		t.Fatal(err)
	}
	if got, err := old.Get("legacy"); err != nil || got.ID != st.ID {
		t.Errorf("Get by name without an index: %v, %v", got, err)
	}
	if err := old.Create(newState("0000000000000007", "legacy")); !errors.Is(err, ErrNameInUse) {
		t.Errorf("name of an entry written without an index: %v, want ErrNameInUse", err)
	}
}

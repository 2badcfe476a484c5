package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

type syscallStat = unix.Stat_t

// statIno returns the inode of path (for an nsfs mount: the namespace's).
func statIno(t *testing.T, path string, st *syscallStat) uint64 {
	t.Helper()
	if err := unix.Stat(path, st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

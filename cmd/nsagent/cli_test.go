package main

import (
	"strings"
	"testing"
)

// TestBadInput checks that each mistake gets one line naming it and the
// documented exit status: 1 for a bad value, 2 for a usage error.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing procfs", []string{"lsns", "--path.procfs=/nonexistent"}, 1, "/nonexistent"},
		{"procfs not procfs", []string{"lsns", "--path.procfs=testdata"}, 1, "not a procfs mount"},
		{"unknown type", []string{"lsns", "-t", "bogus"}, 1, "unknown namespace type: bogus"},
		{"unknown column", []string{"lsns", "-o", "NS,FOO"}, 1, "unknown column: FOO"},
		{"unknown tree", []string{"lsns", "--tree=sideways"}, 1, "unknown tree relation"},
		{"bad namespace arg", []string{"lsns", "abc"}, 1, "invalid namespace argument"},
		{"unknown pid", []string{"lsns", "-p", "999999999", "--path.procfs=../../inventory/testdata/fixtures/v2/proc"}, 1, "process 999999999 not found"},
		{"unknown flag", []string{"lsns", "--bogus"}, 2, "unknown flag: --bogus"},
		{"bad pid value", []string{"lsns", "-p", "x"}, 2, "invalid argument"},
		{"tree bad format", []string{"tree", "-o", "yaml"}, 2, "unknown output format"},
		{"cgroups missing root", []string{"cgroups", "--path.cgroupfs=/nonexistent"}, 1, "/nonexistent"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCapture(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if !strings.Contains(errOut, tc.msg) {
				t.Errorf("stderr %q does not name the problem (%q)", errOut, tc.msg)
			}
			if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one: %q", n+1, errOut)
			}
		})
	}
}

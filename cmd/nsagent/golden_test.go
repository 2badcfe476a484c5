package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files from the fixture trees")

// fixtureArgs returns the --path.* flags that point a command at a fixture
// host tree (inventory/testdata/fixtures/<layout>).
func fixtureArgs(layout string) []string {
	root := filepath.Join("..", "..", "inventory", "testdata", "fixtures", layout)
	return []string{
		"--path.procfs=" + filepath.Join(root, "proc"),
		"--path.cgroupfs=" + filepath.Join(root, "cgroup"),
		"--path.rootfs=" + filepath.Join(root, "rootfs"),
	}
}

// runCapture runs nsagent in-process and returns its exit status, stdout
// and stderr.
func runCapture(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	old := stdout
	stdout = &out
	defer func() { stdout = old }()
	code := run(args, &errb)
	return code, out.String(), errb.String()
}

// TestGolden checks the JSON of lsns, tree and cgroups on the v1, hybrid
// and v2 fixture hosts against checked-in files (go test -update rewrites
// them).
func TestGolden(t *testing.T) {
	cmds := []struct {
		name string
		args []string
	}{
		{"lsns", []string{"lsns", "-J"}},
		{"lsns-all", []string{"lsns", "-J", "-l", "--output-all"}},
		{"lsns-net", []string{"lsns", "-J", "-t", "net"}},
		{"lsns-table", []string{"lsns", "-o", "+NSFS,HOLDERS"}},
		{"tree", []string{"tree", "-o", "json"}},
		{"tree-table", []string{"tree"}},
		{"cgroups", []string{"cgroups", "-o", "json"}},
		{"cgroups-table", []string{"cgroups"}},
		{"tree-logical-table", []string{"tree", "--logical"}},
		{"containers", []string{"containers", "-o", "json"}},
		{"containers-table", []string{"containers"}},
	}
	for _, layout := range []string{"v1", "hybrid", "v2"} {
		for _, c := range cmds {
			t.Run(layout+"/"+c.name, func(t *testing.T) {
				// Runtime metadata (Docker's, runc's) is read under
				// --path.rootfs: the fixture's, never the live host's.
				code, out, errOut := runCapture(t, append(c.args, fixtureArgs(layout)...)...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				ext := ".json"
				if strings.HasSuffix(c.name, "-table") {
					ext = ".txt"
				}
				golden := filepath.Join("testdata", "golden", layout, c.name+ext)
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if out != string(want) {
					t.Errorf("%s differs from %s (go test -update rewrites it; review the diff):\n%s", c.name, golden, lineDiff(string(want), out))
				}
			})
		}
	}
}

// lineDiff returns the first lines where want and got differ, as -want +got.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + itoa(i+1) + ":\n-" + wl + "\n+" + gl + "\n")
			shown++
		}
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

package containers

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nsagent/nsagent/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files from the fixture trees")

// fixture scans testdata/<name> and discovers its containers.
func fixture(t *testing.T, name string) (*inventory.Snapshot, *Result) {
	t.Helper()
	dir := filepath.Join("testdata", name)
	sc, err := inventory.NewScanner(inventory.Options{
		Paths: inventory.Paths{
			Procfs:   filepath.Join(dir, "proc"),
			Sysfs:    filepath.Join(dir, "sys"),
			Cgroupfs: filepath.Join(dir, "cgroup"),
			Rootfs:   filepath.Join(dir, "root"),
		},
		Fields: inventory.FieldSecurity | inventory.FieldCgroupRefs | inventory.FieldCgroupTree | inventory.FieldFDs,
	})
	if err != nil {
		t.Fatalf("scanner for %s: %v", name, err)
	}
	snap, err := sc.Scan(context.Background())
	if err != nil {
		t.Fatalf("scan %s: %v", name, err)
	}
	res, err := Discover(snap, Options{Procfs: filepath.Join(dir, "proc"), Rootfs: filepath.Join(dir, "root")})
	if err != nil {
		t.Fatalf("discover %s: %v", name, err)
	}
	return snap, res
}

// render is the golden form of a fixture: the Result as JSON and the
// logical tree with roles.
func render(t *testing.T, snap *inventory.Snapshot, res *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n# logical tree\n")
	var walk func(n *inventory.TreeNode, depth int)
	walk = func(n *inventory.TreeNode, depth int) {
		fmt.Fprintf(&b, "%s%d %s <%s>", strings.Repeat("  ", depth), n.PID, n.Command(), res.Role(n.PID))
		if id, ok := res.ContainerOf[n.PID]; ok {
			fmt.Fprintf(&b, " {%s}", id[:min(12, len(id))])
		}
		if lp, ok := res.LogicalParents[n.PID]; ok {
			fmt.Fprintf(&b, " (real parent %d, logical %d)", n.PPID, lp)
		}
		b.WriteByte('\n')
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	for _, r := range LogicalTree(snap, res) {
		walk(r, 0)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	for _, name := range []string{"k8s", "podman", "crio"} {
		t.Run(name, func(t *testing.T) {
			snap, res := fixture(t, name)
			got := render(t, snap, res)
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run with -update if the change is intended):\n%s", name, golden, diffLines(string(want), string(got)))
			}
		})
	}
}

// diffLines is a small line diff for golden mismatches: the lines only in
// want (-) and only in got (+).
func diffLines(want, got string) string {
	in := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if g[l] == 0 {
			b.WriteString("-" + l + "\n")
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if w[l] == 0 {
			b.WriteString("+" + l + "\n")
		}
	}
	return b.String()
}

// The golden files pin whole outputs; these pin what each fixture is for,
// so a golden rewritten by mistake cannot hide a regression there.

func TestFixtureKubernetes(t *testing.T) {
	_, res := fixture(t, "k8s")
	sb, app, side, gone := strings.Repeat("a1", 32), strings.Repeat("b2", 32), strings.Repeat("c3", 32), strings.Repeat("d4", 32)
	if n := len(res.Containers); n != 3 {
		t.Fatalf("got %d containers, want 3 (sandbox, nginx, envoy)", n)
	}
	nginx := res.Container(app)
	if nginx == nil {
		t.Fatal("nginx container not found")
	}
	if nginx.Name != "nginx" || nginx.Runtime != RuntimeContainerd || nginx.PID != 1020 || nginx.ShimPID != 1000 ||
		nginx.Image != "docker.io/library/nginx:1.25" || nginx.RuntimeNamespace != "k8s.io" {
		t.Errorf("nginx = %+v", nginx)
	}
	if nginx.Pod == nil || nginx.Pod.Name != "web-7d4b9c" || nginx.Pod.Namespace != "shop" || nginx.Pod.SandboxID != sb {
		t.Errorf("nginx pod = %+v", nginx.Pod)
	}
	if nginx.MemoryLimitBytes == nil || *nginx.MemoryLimitBytes != 134217728 || nginx.PidsLimit == nil || *nginx.PidsLimit != 1024 ||
		nginx.CPUQuotaMicros == nil || *nginx.CPUQuotaMicros != 50000 {
		t.Errorf("nginx limits: mem %v pids %v cpu %v", nginx.MemoryLimitBytes, nginx.PidsLimit, nginx.CPUQuotaMicros)
	}
	if nginx.Namespaces["net"] != 4026532300 || nginx.Namespaces["pid"] != 4026532311 {
		t.Errorf("nginx namespaces = %v", nginx.Namespaces)
	}
	vias := map[int]string{}
	for _, e := range nginx.Entrants {
		vias[e.PID] = e.Via
	}
	if vias[1030] != "exec" || vias[1200] != "nsenter" {
		t.Errorf("nginx entrants = %+v, want 1030 exec and 1200 nsenter", nginx.Entrants)
	}
	if s := res.Container(sb); s == nil || s.Kind != "sandbox" || s.Name != "web-7d4b9c" {
		t.Errorf("sandbox = %+v", s)
	}
	if lp := res.LogicalParent(1000, 1); lp != 500 {
		t.Errorf("shim 1000 logical parent = %d, want containerd 500", lp)
	}
	want := map[string]bool{"orphan-shim " + gone: false, "limit-mismatch " + side: false, "namespace-without-process ": false}
	for _, f := range res.Findings {
		k := f.Kind + " " + f.ContainerID
		if _, ok := want[k]; ok {
			want[k] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("finding %q missing from %+v", k, res.Findings)
		}
	}
	for pid, role := range map[int]Role{500: RoleContainerd, 600: RoleKubelet, 1000: RoleShim, 1010: RoleInit, 1020: RoleInit, 1021: RoleContainer, 1030: RoleEntrant, 1200: RoleEntrant, 700: RoleHost} {
		if got := res.Role(pid); got != role {
			t.Errorf("role of %d = %s, want %s", pid, got, role)
		}
	}
}

func TestFixturePodman(t *testing.T) {
	_, res := fixture(t, "podman")
	byName := map[string]*Container{}
	for _, c := range res.Containers {
		byName[c.Name] = c
	}
	web, debug, demo := byName["web"], byName["debug"], byName["demo"]
	if web == nil || debug == nil || demo == nil {
		t.Fatalf("containers = %v, want web, debug and demo", byName)
	}
	if web.Runtime != RuntimePodman || web.PID != 2010 || web.ShimPID != 2000 || web.Cgroup != "/machine.slice/libpod-"+strings.Repeat("e5", 32)+".scope" {
		t.Errorf("web = %+v", web)
	}
	if web.MemoryLimitBytes == nil || *web.MemoryLimitBytes != 268435456 || web.Security.Privileged {
		t.Errorf("web limit %v privileged %v", web.MemoryLimitBytes, web.Security.Privileged)
	}
	if !debug.Security.Privileged || debug.Security.Seccomp != 0 {
		t.Errorf("debug security = %+v, want privileged", debug.Security)
	}
	if demo.Runtime != RuntimeNsagent || demo.ID != "wl-1" || demo.PID != 4001 || demo.PidsLimit == nil || *demo.PidsLimit != 64 {
		t.Errorf("demo = %+v", demo)
	}
	if res.Role(2000) != RoleConmon || res.Role(4000) != RoleNsagent {
		t.Errorf("roles: 2000 %s, 4000 %s", res.Role(2000), res.Role(4000))
	}
}

func TestFixtureCRIO(t *testing.T) {
	_, res := fixture(t, "crio")
	app := res.Container(strings.Repeat("28", 32))
	if app == nil || app.Runtime != RuntimeCRIO || app.Name != "redis" || app.PID != 3210 || app.ShimPID != 3200 ||
		app.Image != "docker.io/library/redis:7" || app.Pod == nil || app.Pod.Name != "redis-0" {
		t.Fatalf("redis = %+v", app)
	}
	if app.CPUQuotaMicros == nil || *app.CPUQuotaMicros != 20000 || app.MemoryLimitBytes != nil {
		t.Errorf("redis limits: cpu %v mem %v", app.CPUQuotaMicros, app.MemoryLimitBytes)
	}
	if sb := res.Container(strings.Repeat("17", 32)); sb == nil || sb.Kind != "sandbox" {
		t.Errorf("sandbox = %+v", sb)
	}
	for _, conmon := range []int{3100, 3200} {
		if lp := res.LogicalParent(conmon, 1); lp != 300 {
			t.Errorf("conmon %d logical parent = %d, want crio 300", conmon, lp)
		}
	}
	if len(res.Findings) != 0 {
		t.Errorf("findings = %+v, want none", res.Findings)
	}
}

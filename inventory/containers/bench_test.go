package containers

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nsagent/nsagent/inventory"
)

// BenchmarkLiveDiscover measures container discovery against the full
// inventory scan it runs on, on the live host, in paired runs: each
// iteration scans, then discovers with a long-lived Discoverer (warm
// metadata cache, as `nsagent serve` runs it) and with a fresh one (cold,
// as one `nsagent containers` runs it). It reports medians and the ratios
// scripts/bench/containers.sh prints (target: warm ≤ 0.10).
func BenchmarkLiveDiscover(b *testing.B) {
	sc, err := inventory.NewScanner(inventory.Options{Fields: inventory.AllFields})
	if err != nil {
		b.Fatal(err)
	}
	d := NewDiscoverer(Options{})
	var scan, warm, cold []time.Duration
	procs, ctrs := 0, 0
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		snap, err := sc.Scan(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res, err := d.Discover(snap)
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := Discover(snap, Options{}); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		scan, warm, cold = append(scan, t1.Sub(t0)), append(warm, t2.Sub(t1)), append(cold, t3.Sub(t2))
		procs, ctrs = len(snap.Processes), len(res.Containers)
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	s, w, c := median(scan), median(warm), median(cold)
	b.ReportMetric(float64(procs), "processes")
	b.ReportMetric(float64(ctrs), "containers")
	b.ReportMetric(ms(s), "scan-ms")
	b.ReportMetric(ms(w), "discover-warm-ms")
	b.ReportMetric(ms(c), "discover-cold-ms")
	b.ReportMetric(float64(w)/float64(s), "ratio-warm")
	b.ReportMetric(float64(c)/float64(s), "ratio-cold")
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkDiscoverFixture is discovery alone on the Kubernetes fixture,
// for profiling without a live host.
func BenchmarkDiscoverFixture(b *testing.B) {
	dir := filepath.Join("testdata", "k8s")
	sc, err := inventory.NewScanner(inventory.Options{
		Paths:  inventory.Paths{Procfs: filepath.Join(dir, "proc"), Cgroupfs: filepath.Join(dir, "cgroup"), Rootfs: filepath.Join(dir, "root")},
		Fields: inventory.FieldSecurity | inventory.FieldCgroupRefs | inventory.FieldCgroupTree | inventory.FieldFDs,
	})
	if err != nil {
		b.Fatal(err)
	}
	snap, err := sc.Scan(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	d := NewDiscoverer(Options{Procfs: filepath.Join(dir, "proc"), Rootfs: filepath.Join(dir, "root")})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Discover(snap); err != nil {
			b.Fatal(err)
		}
	}
}

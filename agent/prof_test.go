package agent

import (
	"context"
	"testing"
	"time"
)

// BenchmarkIncrementalScan measures one shared scan of the live host after
// a first full one: what a scrape costs the agent (run as root).
func BenchmarkIncrementalScan(b *testing.B) {
	a, err := New(Options{MinInterval: time.Nanosecond, ProcEvents: true})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Scan(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.Scan(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

package lsns

import (
	"context"
	"io"
	"testing"

	"github.com/nsagent/nsagent/inventory"
)

// BenchmarkWriteTable prints the live host's namespaces as `nsagent lsns`
// does with its default columns and tree (the output half of the
// command; the scan is inventory's BenchmarkScanLsnsFields).
func BenchmarkWriteTable(b *testing.B) {
	sc, err := inventory.NewScanner(inventory.Options{Fields: inventory.FieldFDs | inventory.FieldMounts})
	if err != nil {
		b.Fatal(err)
	}
	snap, err := sc.Scan(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	cols, err := ParseColumns("", DefaultColumns)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rows, err := Build(snap, Filter{}, TreeProcess, "/proc")
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteTable(io.Discard, rows, cols, TableOptions{Tree: TreeProcess}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(snap.Namespaces)), "namespaces")
}

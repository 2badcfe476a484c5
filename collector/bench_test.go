package collector_test

import (
	"io"
	"testing"
	"time"

	"github.com/nsagent/nsagent/agent"
	"github.com/nsagent/nsagent/collector"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// BenchmarkScrape is one scrape of the live host as `nsagent serve`
// answers it (new incremental scan, every collector, text encoding); run
// it as root with -cpuprofile to see where a scrape's CPU goes.
func BenchmarkScrape(b *testing.B) {
	a, err := agent.New(agent.Options{MinInterval: time.Nanosecond, ProcEvents: true})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	nc, err := collector.New(a, collector.Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(nc)
	scrape := func() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
	scrape()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		scrape()
	}
}

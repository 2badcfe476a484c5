package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/nsagent/nsagent/agent"
	"github.com/nsagent/nsagent/inventory"
)

// TestWorkloadsCountsOnlyStateFiles: the state directory also holds the
// network store's records (ipam-BRIDGE.json) while a bridge is up; they
// are not workloads, and not unreadable ones either.
func TestWorkloadsCountsOnlyStateFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "0123456789abcdef", "state.json"), `{"status":"exited"}`)
	write(filepath.Join(dir, "fedcba9876543210", "state.json"), `{"status":`) // being written
	write(filepath.Join(dir, "ipam-nsagent0.json"), `{"bridge":"nsagent0","allocations":[]}`)

	ch := make(chan prometheus.Metric, 16)
	e := &emitter{ch: ch, budget: 16}
	w := &workloads{dir: dir}
	if err := w.update(&agent.Scan{Snapshot: &inventory.Snapshot{}}, e); err != nil {
		t.Fatal(err)
	}
	close(ch)
	got := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		name := m.Desc().String()
		for _, l := range pb.GetLabel() {
			name += " " + l.GetValue()
		}
		got[name] = pb.GetGauge().GetValue()
	}
	var exited, unreadable float64 = -1, -1
	for k, v := range got {
		switch {
		case strings.Contains(k, "nsagent_workloads_state_unreadable"):
			unreadable = v
		case strings.Contains(k, `"nsagent_workloads"`) && strings.Contains(k, " exited"):
			exited = v
		}
	}
	if exited != 1 || unreadable != 1 {
		t.Errorf("exited %v, unreadable %v; want 1 and 1 (the half-written state.json only)\n%v", exited, unreadable, got)
	}
}

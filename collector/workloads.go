package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nsagent/nsagent/agent"
)

func init() {
	register("workloads", true, "nsagent launcher workloads by status, from its state directory (--collector.workloads.state-dir)", newWorkloads)
}

// workloads counts the launcher's workloads by status. It reads the state
// files the launcher writes (<state-dir>/<id>/state.json) best-effort: a
// file being rewritten or of an unknown shape is skipped and counted. The
// directory's other files (the network store's ipam-BRIDGE.json, its
// locks, the cache) are not workloads.
type workloads struct {
	dir string
}

var (
	wlDesc        = desc("", "workloads", "nsagent launcher workloads by status; a workload recorded as running whose init is gone counts as dead.", "status")
	wlInvalidDesc = desc("workloads", "state_unreadable", "State files in the launcher's state directory that could not be read or parsed.")
)

func newWorkloads(cfg Config) collector {
	return &workloads{dir: filepath.Join(cfg.Rootfs, cfg.StateDir)}
}

// workloadState is the part of the launcher's state.json this reads.
type workloadState struct {
	Status   string `json:"status"`
	Pid      int    `json:"pid"`
	PidStart uint64 `json:"pid_start"`
}

func (w *workloads) update(s *agent.Scan, e *emitter) error {
	dir := w.dir
	files, _ := filepath.Glob(filepath.Join(dir, "*", "state.json"))
	if len(files) == 0 {
		if _, err := os.Stat(dir); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("workloads state dir: %w", err)
		}
	}
	counts := map[string]int{"created": 0, "running": 0, "exited": 0, "dead": 0}
	bad := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if !os.IsNotExist(err) && !isPerm(err) {
				bad++
			}
			continue
		}
		var st workloadState
		if err := json.Unmarshal(b, &st); err != nil || st.Status == "" {
			bad++
			continue
		}
		if st.Status == "running" && st.Pid > 0 {
			p := s.Snapshot.Process(st.Pid)
			if p == nil || (st.PidStart != 0 && p.StartTicks != st.PidStart) {
				st.Status = "dead"
			}
		}
		counts[st.Status]++
	}
	for status, n := range sortedCounts(counts) {
		e.gauge(wlDesc, float64(n), status)
	}
	e.gauge(wlInvalidDesc, float64(bad))
	return nil
}

func isPerm(err error) bool { return err != nil && errors.Is(err, fs.ErrPermission) }

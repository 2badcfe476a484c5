// Package cgmode tells the layout of a cgroupfs mount (v1, hybrid, v2)
// from the files present. Package inventory re-exports it (CgroupMode);
// it is apart so that the launcher, which needs only this, does not link
// procfs, whose package init every start of the launch binary would run
// (about 1 ms here; see launcher/nsenter's fastlaunch.go).
package cgmode

import (
	"fmt"
	"os"
	"path/filepath"
)

// Mode is the layout of a cgroupfs mount.
type Mode string

// The cgroup layouts, as containerd/cgroups names them.
const (
	Legacy  Mode = "legacy"  // v1 controllers only
	Hybrid  Mode = "hybrid"  // v1 controllers plus a cgroup2 mount at unified/
	Unified Mode = "unified" // cgroup v2 only
)

// Detect tells the layout under a cgroupfs root from the files
// present: cgroup.controllers at the root is unified; a unified/ subtree
// with cgroup.controllers beside v1 hierarchies is hybrid; else legacy.
func Detect(root string) (Mode, error) {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return Unified, nil
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return "", fmt.Errorf("cgroupfs root %s: %w", root, err)
	}
	if len(ents) == 0 {
		return "", fmt.Errorf("cgroupfs root %s: empty, no cgroup hierarchy mounted", root)
	}
	if _, err := os.Stat(filepath.Join(root, "unified", "cgroup.controllers")); err == nil {
		return Hybrid, nil
	}
	return Legacy, nil
}

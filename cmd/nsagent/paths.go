//go:build !launchonly

package main

import (
	"runtime/debug"

	"github.com/nsagent/nsagent/inventory"
	flag "github.com/spf13/pflag"
)

// pathFlags adds node_exporter's --path.* flags to fs and returns the paths
// they fill.
func pathFlags(fs *flag.FlagSet) *inventory.Paths {
	p := inventory.DefaultPaths
	fs.StringVar(&p.Procfs, "path.procfs", p.Procfs, "procfs mountpoint")
	fs.StringVar(&p.Sysfs, "path.sysfs", p.Sysfs, "sysfs mountpoint")
	fs.StringVar(&p.Cgroupfs, "path.cgroupfs", p.Cgroupfs, "cgroupfs mountpoint")
	fs.StringVar(&p.Rootfs, "path.rootfs", p.Rootfs, "host root filesystem (for /etc/passwd)")
	return &p
}

// oneShotGC sets the collector of a command that scans once and exits
// (lsns, tree, cgroups, containers): its heap is a few MB that live until it exits,
// and the one collection the default GOGC triggered, near the end, ran
// while the table was written — 2.5 to 5 ms of `nsagent lsns`'s serial
// tail under the bench load, about 5% of its wall time (21 alternating
// runs each), for no memory back (peak RSS the same at 100 and 400).
// A host many times larger still collects, at five times its live heap.
func oneShotGC() { debug.SetGCPercent(400) }

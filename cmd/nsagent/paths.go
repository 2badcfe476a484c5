package main

import (
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

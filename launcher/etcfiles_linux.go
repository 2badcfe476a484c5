package launcher

import (
	"fmt"
	"os"
	"path/filepath"
)

// etcFiles are written per workload in its state directory and bound over
// the same paths in the root filesystem.
var etcFiles = []string{"hostname", "hosts", "resolv.conf"}

// writeEtcFiles writes the workload's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into its state directory.
func writeEtcFiles(dir string, c *Config) error {
	hostname := c.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"
	if c.Network == "host" {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
		}
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		resolv = nil // a host without one gives the workload an empty file
	}
	files := map[string][]byte{
		"hostname":    []byte(hostname + "\n"),
		"hosts":       []byte(hosts),
		"resolv.conf": resolv,
	}
	for _, name := range etcFiles {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

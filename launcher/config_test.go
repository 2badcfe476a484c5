package launcher

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nsagent/nsagent/inventory/cgmode"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		want int64
		err  bool
	}{
		{"mebibytes", "4M", 4 << 20, false},
		{"lower case", "512m", 512 << 20, false},
		{"gibibytes", "1g", 1 << 30, false},
		{"bytes", "4194304", 4194304, false},
		{"with b", "64kb", 64 << 10, false},
		{"unit unknown", "4x", 0, true},
		{"empty", "", 0, true},
		{"zero", "0", 0, true},
		{"negative", "-1", 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseSize(c.in)
			if (err != nil) != c.err || got != c.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.err)
			}
		})
	}
}

func TestParseVolume(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		want Mount
		err  bool
	}{
		{"read-write", "/a:/b", Mount{Source: "/a", Target: "/b"}, false},
		{"read-only", "/a:/b:ro", Mount{Source: "/a", Target: "/b", ReadOnly: true}, false},
		{"explicit rw", "/a:/b:rw", Mount{Source: "/a", Target: "/b"}, false},
		{"relative", "a:/b", Mount{}, true},
		{"bad option", "/a:/b:xx", Mount{}, true},
		{"one path", "/a", Mount{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseVolume(c.in)
			if (err != nil) != c.err || (!c.err && got != c.want) {
				t.Errorf("ParseVolume(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
			}
		})
	}
}

func TestParseUser(t *testing.T) {
	for _, c := range []struct {
		name     string
		in       string
		uid, gid int
		err      bool
	}{
		{"uid", "1000", 1000, 0, false},
		{"uid and gid", "1000:1001", 1000, 1001, false},
		{"name", "nobody", 0, 0, true},
		{"negative", "-1", 0, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			uid, gid, err := ParseUser(c.in)
			if (err != nil) != c.err || uid != c.uid || gid != c.gid {
				t.Errorf("ParseUser(%q) = %d, %d, %v", c.in, uid, gid, err)
			}
		})
	}
}

func validConfig() Config {
	return Config{Rootfs: "/r", Args: []string{"sh"}, Namespaces: DefaultNamespaces, Network: "none"}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name   string
		modify func(*Config)
		errHas string // "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no command", func(c *Config) { c.Args = nil }, "no command"},
		{"relative rootfs", func(c *Config) { c.Rootfs = "r" }, "not an absolute path"},
		{"bad name", func(c *Config) { c.Name = "-x" }, "invalid name"},
		{"bad hostname", func(c *Config) { c.Hostname = "a b" }, "invalid hostname"},
		{"hostname with host uts", func(c *Config) { c.Hostname = "h"; c.Namespaces.UTS = NSHost }, "UTS namespace"},
		{"tiny memory", func(c *Config) { c.Limits.Memory = 100 }, "below the minimum"},
		{"swap below memory", func(c *Config) { c.Limits.Memory = 8 << 20; c.Limits.MemorySwap = 4 << 20 }, "--memory-swap"},
		{"swap without memory", func(c *Config) { c.Limits.MemorySwap = 4 << 20 }, "needs --mem"},
		{"negative cpus", func(c *Config) { c.Limits.CPUs = -1 }, "--cpus"},
		{"net none with host netns", func(c *Config) { c.Namespaces.Net = NSHost }, "network namespace"},
		{"unknown network", func(c *Config) { c.Network = "bridge0" }, "unknown network"},
		{"host mount ns", func(c *Config) { c.Namespaces.Mount = NSHost }, "mount namespace"},
		{"bad env", func(c *Config) { c.Env = []string{"NOEQUALS"} }, "KEY=VALUE"},
		{"relative cwd", func(c *Config) { c.Cwd = "tmp" }, "not absolute"},
		{"volume over root", func(c *Config) { c.Mounts = []Mount{{Source: "/a", Target: "/"}} }, "over the root"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := validConfig()
			c.modify(&cfg)
			err := cfg.Validate()
			switch {
			case c.errHas == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.errHas != "" && (err == nil || !strings.Contains(err.Error(), c.errHas)):
				t.Errorf("error %v, want one containing %q", err, c.errHas)
			}
		})
	}
}

func TestParseStartTime(t *testing.T) {
	line := []byte("42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10 18446744073709551615")
	got, err := parseStartTime(line)
	if err != nil || got != 123456 {
		t.Errorf("parseStartTime = %d, %v; want 123456", got, err)
	}
	if _, err := parseStartTime([]byte("42 (x) S 1")); err == nil {
		t.Error("short stat line: want an error")
	}
}

func TestWorkloadEnv(t *testing.T) {
	got := workloadEnv(&Config{Env: []string{"A=1"}, Hostname: "h", UID: 1000})
	want := []string{"A=1", DefaultPath, "HOSTNAME=h", "HOME=/"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("workloadEnv = %v, want %v", got, want)
	}
}

func TestLimitFiles(t *testing.T) {
	for _, c := range []struct {
		name string
		mode cgmode.Mode
		l    Limits
		want []cgroupFile
	}{
		{"none", cgmode.Hybrid, Limits{}, nil},
		{"v1 all", cgmode.Legacy, Limits{Memory: 4 << 20, CPUs: 0.5, Pids: 10}, []cgroupFile{
			{"memory", "memory.limit_in_bytes", "4194304", false},
			{"memory", "memory.memsw.limit_in_bytes", "8388608", true},
			{"cpu", "cpu.cfs_period_us", "100000", false},
			{"cpu", "cpu.cfs_quota_us", "50000", false},
			{"pids", "pids.max", "10", false},
		}},
		{"v1 unlimited swap", cgmode.Hybrid, Limits{Memory: 4 << 20, MemorySwap: -1}, []cgroupFile{
			{"memory", "memory.limit_in_bytes", "4194304", false},
			{"memory", "memory.memsw.limit_in_bytes", "-1", false},
		}},
		{"v2 all", cgmode.Unified, Limits{Memory: 4 << 20, CPUs: 1.5, Pids: 10}, []cgroupFile{
			{"", "memory.max", "4194304", false},
			{"", "memory.swap.max", "4194304", true},
			{"", "cpu.max", "150000 100000", false},
			{"", "pids.max", "10", false},
		}},
		{"v2 explicit swap", cgmode.Unified, Limits{Memory: 4 << 20, MemorySwap: 6 << 20}, []cgroupFile{
			{"", "memory.max", "4194304", false},
			{"", "memory.swap.max", "2097152", false},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := limitFiles(c.mode, c.l); !reflect.DeepEqual(got, c.want) {
				t.Errorf("limitFiles:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

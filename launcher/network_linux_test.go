package launcher

import (
	"strings"
	"testing"

	"github.com/nsagent/nsagent/launcher/bridge"
)

func TestParsePort(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     bridge.Port
		err      string
	}{
		{name: "tcp default", in: "18080:80", want: bridge.Port{HostPort: 18080, Port: 80, Proto: "tcp"}},
		{name: "udp", in: "5353:53/udp", want: bridge.Port{HostPort: 5353, Port: 53, Proto: "udp"}},
		{name: "explicit tcp", in: "1:65535/tcp", want: bridge.Port{HostPort: 1, Port: 65535, Proto: "tcp"}},
		{name: "no colon", in: "8080", err: `invalid port "8080" (want HOSTPORT:PORT[/tcp|udp])`},
		{name: "too big", in: "65536:80", err: `"65536" is not a port number`},
		{name: "zero", in: "0:80", err: `"0" is not a port number`},
		{name: "range", in: "8000-8010:80", err: `"8000-8010" is not a port number`},
		{name: "sctp", in: "80:80/sctp", err: `protocol "sctp"`},
		{name: "empty", in: "", err: "want HOSTPORT:PORT"},
		{name: "ip prefix", in: "127.0.0.1:80:80", err: "is not a port number"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParsePort(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("got %+v %v, want %+v", got, err, c.want)
			}
		})
	}
}

func TestCheckNetwork(t *testing.T) {
	base := func(f func(*Config)) *Config {
		c := &Config{Network: NetBridge, Namespaces: DefaultNamespaces}
		f(c)
		return c
	}
	p := bridge.Port{HostPort: 8080, Port: 80, Proto: "tcp"}
	for _, c := range []struct {
		name string
		cfg  *Config
		err  string
	}{
		{"bridge defaults", base(func(*Config) {}), ""},
		{"bridge with ports", base(func(c *Config) { c.NetOptions.Ports = []bridge.Port{p} }), ""},
		{"none", base(func(c *Config) { c.Network = NetNone }), ""},
		{"host", base(func(c *Config) { c.Network = NetHost; c.Namespaces.Net = NSHost }), ""},
		{"named", base(func(c *Config) { c.Network = "ns:blue" }), ""},
		{"host without host ns", base(func(c *Config) { c.Network = NetHost }), "needs the host's network namespace"},
		{"bridge in host ns", base(func(c *Config) { c.Namespaces.Net = NSHost }), "needs a network namespace of its own"},
		{"unknown", base(func(c *Config) { c.Network = "overlay" }), `unknown network "overlay"`},
		{"ports without bridge", base(func(c *Config) { c.Network = NetNone; c.NetOptions.Ports = []bridge.Port{p} }), "-p publishes ports of the bridge network"},
		{"same host port twice", base(func(c *Config) { c.NetOptions.Ports = []bridge.Port{p, {HostPort: 8080, Port: 81, Proto: "tcp"}} }), "published twice"},
		{"same number other proto", base(func(c *Config) { c.NetOptions.Ports = []bridge.Port{p, {HostPort: 8080, Port: 80, Proto: "udp"}} }), ""},
		{"bad bridge name", base(func(c *Config) { c.NetOptions.Bridge = "a-name-far-too-long" }), "invalid bridge name"},
		{"bad subnet", base(func(c *Config) { c.NetOptions.Subnet = "10.0.0.1/24" }), "host bits set"},
		{"bad netns name", base(func(c *Config) { c.Network = "ns:../x" }), "invalid network namespace name"},
		{"netns with userns", base(func(c *Config) {
			c.Network = "ns:blue"
			c.Namespaces.User = NSNew
		}), "cannot be joined from a new user namespace"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkNetwork(c.cfg)
			switch {
			case c.err == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("error %v, want one containing %q", err, c.err)
			}
		})
	}
}

func TestHostNames(t *testing.T) {
	for _, c := range []struct {
		name string
		a    bridge.Allocation
		own  bool
		want string
	}{
		{"own: hostname first", bridge.Allocation{Name: "web", Hostname: "abc123"}, true, "abc123 web"},
		{"other: name first", bridge.Allocation{Name: "web", Hostname: "abc123"}, false, "web abc123"},
		{"same", bridge.Allocation{Name: "web", Hostname: "web"}, false, "web"},
		{"no hostname", bridge.Allocation{Name: "web"}, true, "web"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := hostNames(c.a, c.own); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

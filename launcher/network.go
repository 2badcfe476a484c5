package launcher

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nsagent/nsagent/launcher/bridge"
)

// Network names (Config.Network): a bridge (the default), only lo, the
// host's namespace, or a named namespace (NetnsPrefix + NAME, as made by
// `ip netns add NAME`).
const (
	NetBridge   = "bridge"
	NetNone     = "none"
	NetHost     = "host"
	NetnsPrefix = "ns:"
)

// Bridge defaults: the bridge nsagent makes on first use and its subnet,
// well away from Docker's 172.17.0.0/16.
const (
	DefaultBridge = "nsagent0"
	DefaultSubnet = "10.88.0.0/16"
)

// NetOptions are the choices of the bridge network.
type NetOptions struct {
	// Bridge and Subnet default to DefaultBridge and DefaultSubnet.
	Bridge string `json:"bridge,omitempty"`
	Subnet string `json:"subnet,omitempty"`
	// Ports are published on the host (-p).
	Ports []bridge.Port `json:"ports,omitempty"`
}

// NetState is how a workload is connected, as recorded in its state (and
// shown by ps -o json).
type NetState struct {
	// Netns is the named namespace joined (--net ns:NAME).
	Netns string `json:"netns,omitempty"`
	// Bridge, Subnet and Gateway say where the workload's Interface
	// (with Address) is attached; HostVeth is the host end of its pair.
	Bridge    string        `json:"bridge,omitempty"`
	Subnet    string        `json:"subnet,omitempty"`
	Gateway   string        `json:"gateway,omitempty"`
	Interface string        `json:"interface,omitempty"`
	Address   string        `json:"address,omitempty"`
	HostVeth  string        `json:"host_veth,omitempty"`
	Ports     []bridge.Port `json:"ports,omitempty"`
}

// ParsePort parses -p HOSTPORT:PORT[/tcp|/udp].
func ParsePort(s string) (bridge.Port, error) {
	var p bridge.Port
	spec, proto, hasProto := strings.Cut(s, "/")
	p.Proto = "tcp"
	if hasProto {
		if proto != "tcp" && proto != "udp" {
			return p, fmt.Errorf("invalid port %q: protocol %q (want tcp or udp)", s, proto)
		}
		p.Proto = proto
	}
	hp, cp, ok := strings.Cut(spec, ":")
	if !ok {
		return p, fmt.Errorf("invalid port %q (want HOSTPORT:PORT[/tcp|udp])", s)
	}
	for _, x := range []struct {
		s   string
		dst *uint16
	}{{hp, &p.HostPort}, {cp, &p.Port}} {
		n, err := strconv.ParseUint(x.s, 10, 16)
		if err != nil || n == 0 {
			return p, fmt.Errorf("invalid port %q: %q is not a port number (1-65535)", s, x.s)
		}
		*x.dst = uint16(n)
	}
	return p, nil
}

// withDefaults returns o with the defaults filled in.
func (o NetOptions) withDefaults() NetOptions {
	if o.Bridge == "" {
		o.Bridge = DefaultBridge
	}
	if o.Subnet == "" {
		o.Subnet = DefaultSubnet
	}
	return o
}

func checkNetwork(c *Config) error {
	o := c.NetOptions
	if len(o.Ports) > 0 && c.Network != NetBridge {
		return fmt.Errorf("-p publishes ports of the bridge network, not of --net %s", c.Network)
	}
	switch {
	case c.Network == NetHost:
		if c.Namespaces.Net != NSHost {
			return errors.New("network host needs the host's network namespace")
		}
		return nil
	case c.Network == NetNone, c.Network == NetBridge, strings.HasPrefix(c.Network, NetnsPrefix):
		if c.Namespaces.Net == NSHost {
			return fmt.Errorf("--net %s needs a network namespace of its own", c.Network)
		}
	default:
		return fmt.Errorf("unknown network %q (want bridge, none, host or ns:NAME)", c.Network)
	}
	if name, ok := strings.CutPrefix(c.Network, NetnsPrefix); ok {
		if !validName(name, 64, "_.-") {
			return fmt.Errorf("invalid network namespace name %q", name)
		}
		if c.Namespaces.User == NSNew {
			return errors.New("--net ns:NAME cannot be joined from a new user namespace (--userns)")
		}
	}
	if c.Network != NetBridge {
		return nil
	}
	o = o.withDefaults()
	if !validName(o.Bridge, 15, "_.-") {
		return fmt.Errorf("invalid bridge name %q (want [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 15)", o.Bridge)
	}
	if _, err := bridge.ParseSubnet(o.Subnet); err != nil {
		return err
	}
	seen := map[bridge.Port]bool{}
	for _, p := range o.Ports {
		if p.HostPort == 0 || p.Port == 0 || (p.Proto != "tcp" && p.Proto != "udp") {
			return fmt.Errorf("invalid port %s", p)
		}
		k := bridge.Port{HostPort: p.HostPort, Proto: p.Proto}
		if seen[k] {
			return fmt.Errorf("host port %d/%s is published twice", p.HostPort, p.Proto)
		}
		seen[k] = true
	}
	return nil
}

package launcher

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsagent/nsagent/launcher/bridge"
)

// Network is how a workload is connected. The launcher calls Prepare once
// the workload is recorded and before its init starts (a bridge network
// takes an address there, setting the bridge up if it is the first, and
// writes /etc/hosts), the init calls Init inside its network namespace as
// its first step (before the root filesystem hides the host's /run/netns),
// the launcher calls Parent with the init's host pid before the command
// runs (the bridge's veth goes into the workload's namespace there), and
// Release when the workload is gone; Release may run more than once.
type Network interface {
	// Prepare runs in the launcher before the init starts.
	Prepare(cfg *Config, st *State) error
	// Parent runs in the launcher with the init's host pid.
	Parent(pid int, st *State) error
	// InitNet is what the init does in the workload's network
	// namespace before its root filesystem: bring lo up, and/or join
	// the namespace at the path join instead of the one it was cloned
	// into. The init is C code (package nsenter) and takes these as
	// data.
	InitNet() (loUp bool, join string)
	// Release undoes what Prepare and Parent did.
	Release(st *State) error
}

// network returns the Network called name for workloads of this
// launcher.
func (l *Launcher) network(name string) (Network, error) {
	switch {
	case name == NetNone:
		return noneNetwork{}, nil
	case name == NetHost:
		return hostNetwork{}, nil
	case name == NetBridge:
		return bridgeNetwork{l: l, ipam: bridge.Store{Dir: l.Store.Dir}}, nil
	case strings.HasPrefix(name, NetnsPrefix):
		return namedNetwork{name: strings.TrimPrefix(name, NetnsPrefix)}, nil
	}
	return nil, fmt.Errorf("unknown network %q", name)
}

// noneNetwork is a new network namespace with only lo, up.
type noneNetwork struct{}

func (noneNetwork) Prepare(*Config, *State) error { return nil }
func (noneNetwork) Parent(int, *State) error      { return nil }
func (noneNetwork) Release(*State) error          { return nil }
func (noneNetwork) InitNet() (bool, string)       { return true, "" }

// hostNetwork shares the host's network namespace: nothing to do.
type hostNetwork struct{}

func (hostNetwork) Prepare(*Config, *State) error { return nil }
func (hostNetwork) Parent(int, *State) error      { return nil }
func (hostNetwork) Release(*State) error          { return nil }
func (hostNetwork) InitNet() (bool, string)       { return false, "" }

// NetnsDir is where `ip netns add` keeps named network namespaces.
var NetnsDir = "/run/netns"

// namedNetwork joins a network namespace made with `ip netns add NAME`,
// as it is: nsagent neither configures nor removes it. The init is still
// cloned into a namespace of its own (which dies unused) and joins the
// named one with setns on its one locked thread, which execve carries.
type namedNetwork struct{ name string }

func (n namedNetwork) path() string { return filepath.Join(NetnsDir, n.name) }

func (n namedNetwork) Prepare(_ *Config, st *State) error {
	var fs unix.Statfs_t
	if err := unix.Statfs(n.path(), &fs); err != nil {
		return fmt.Errorf("network namespace %s: %s not found (make it with ip netns add %s)", n.name, n.path(), n.name)
	}
	if fs.Type != unix.NSFS_MAGIC {
		return fmt.Errorf("network namespace %s: %s is not a namespace file", n.name, n.path())
	}
	st.Net = &NetState{Netns: n.path()}
	return nil
}

func (namedNetwork) Parent(int, *State) error { return nil }
func (namedNetwork) Release(*State) error     { return nil }

// InitNet: the init is cloned into a namespace of its own (which dies
// unused) and joins the named one with setns, before its root filesystem
// hides /run/netns.
func (n namedNetwork) InitNet() (bool, string) { return false, n.path() }

// bridgeNetwork puts the workload on a host bridge (package bridge): an
// address from the IPAM in the launcher's state directory, a veth pair,
// NAT, published ports, and names in /etc/hosts for the workloads on the
// same bridge.
type bridgeNetwork struct {
	l    *Launcher
	ipam bridge.Store
}

func (b bridgeNetwork) Prepare(cfg *Config, st *State) error {
	o := cfg.NetOptions.withDefaults()
	subnet, err := bridge.ParseSubnet(o.Subnet)
	if err != nil {
		return err
	}
	a, err := b.ipam.Join(o.Bridge, subnet, bridge.Allocation{
		ID: st.ID, Name: st.Name, Hostname: st.Hostname, Veth: bridge.VethPrefix + st.ID[:12], Ports: o.Ports,
	}, b.writeHosts)
	if err != nil {
		return err
	}
	r := bridge.Record{Subnet: subnet}
	st.Net = &NetState{
		Bridge: o.Bridge, Subnet: subnet.String(), Gateway: r.Gateway().String(),
		Interface: "eth0", Address: a.Addr.String(), HostVeth: a.Veth, Ports: o.Ports,
	}
	if err := writeResolvConf(b.l.Store.WorkloadDir(st.ID)); err != nil {
		return err
	}
	// Recorded now: a launcher killed from here on leaves a state that
	// names its bridge.
	return b.l.Store.Save(st)
}

func (b bridgeNetwork) Parent(pid int, st *State) error {
	n := st.Net
	subnet, err := netip.ParsePrefix(n.Subnet)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(n.Address)
	if err != nil {
		return err
	}
	gw, err := netip.ParseAddr(n.Gateway)
	if err != nil {
		return err
	}
	if err := bridge.Attach(n.Bridge, n.HostVeth, pid, n.Interface, addr, subnet, gw); err != nil {
		return err
	}
	return bridge.Publish(n.Bridge, st.ID, addr, n.Ports)
}

func (bridgeNetwork) InitNet() (bool, string) { return true, "" }

func (b bridgeNetwork) Release(st *State) error {
	if st.Net == nil || st.Net.Bridge == "" {
		return nil
	}
	idle, err := b.ipam.Leave(st.Net.Bridge, st.ID, b.writeHosts)
	if err != nil || !idle {
		return err
	}
	if len(b.l.TeardownArgs) == 0 || startTeardown(b.l, st.Net.Bridge) != nil {
		return b.ipam.TearDownIdle(st.Net.Bridge)
	}
	return nil
}

// startTeardown starts `nsagent net-teardown` for an idle bridge in the
// background, in a session of its own with /dev/null for stdio (so that
// nothing waiting on this process's output waits for it too), and does
// not wait for it: it takes the network lock, and tears the bridge down
// only if no workload has joined it meanwhile. If it cannot finish, the
// idle bridge stays recorded and `nsagent gc` removes it.
func startTeardown(l *Launcher, name string) error {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	args := append(append([]string{"nsagent"}, l.TeardownArgs...), "--state-dir", l.Store.Dir, name)
	_, err = syscall.ForkExec("/proc/self/exe", args, &syscall.ProcAttr{
		Files: []uintptr{null.Fd(), null.Fd(), null.Fd()},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	return err
}

// TearDownIdle removes bridge if it has no workload (the background half
// of a bridge's last Release, and what `nsagent net-teardown` runs).
func (l *Launcher) TearDownIdle(name string) error {
	return bridge.Store{Dir: l.Store.Dir}.TearDownIdle(name)
}

// writeHosts rewrites the /etc/hosts of every workload on the bridge: its
// own address under its hostname and name, then every other workload's
// under its name and hostname. The file is written in place (truncated,
// not renamed): the running workloads have it bound over their /etc/hosts.
func (b bridgeNetwork) writeHosts(r *bridge.Record) error {
	for _, a := range r.Allocs {
		var buf bytes.Buffer
		buf.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		fmt.Fprintf(&buf, "%s\t%s\n", a.Addr, hostNames(a, true))
		for _, o := range r.Allocs {
			if o.ID != a.ID {
				fmt.Fprintf(&buf, "%s\t%s\n", o.Addr, hostNames(o, false))
			}
		}
		p := filepath.Join(b.l.Store.WorkloadDir(a.ID), "hosts")
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if errors.Is(err, os.ErrNotExist) {
			continue // a workload being removed
		}
		if err != nil {
			return fmt.Errorf("write hosts of %s: %w", a.Name, err)
		}
		_, err = f.Write(buf.Bytes())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write hosts of %s: %w", a.Name, err)
		}
	}
	return nil
}

func hostNames(a bridge.Allocation, own bool) string {
	first, second := a.Name, a.Hostname
	if own {
		first, second = a.Hostname, a.Name
	}
	if first == "" || first == second {
		return second
	}
	if second == "" {
		return first
	}
	return first + " " + second
}

// writeResolvConf gives a bridge workload the host's resolv.conf without
// loopback nameservers, which would be the workload's own loopback.
func writeResolvConf(dir string) error {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil // the host has none: the workload keeps an empty one
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && a.IsLoopback() {
				continue
			}
		}
		out.WriteString(sc.Text() + "\n")
	}
	p := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	return nil
}

// gcNetworks releases the bridge addresses of workloads that are gone
// (their state removed or dead), tearing down bridges left empty: what a
// launcher killed before recording its workload's exit leaves.
func (l *Launcher) gcNetworks() ([]string, error) {
	b := bridgeNetwork{l: l, ipam: bridge.Store{Dir: l.Store.Dir}}
	return b.ipam.GC(func(id string) bool {
		st, err := l.Store.load(id)
		if err != nil {
			return !errors.Is(err, ErrNotFound)
		}
		st.refresh()
		return st.Status == StatusRunning || st.Status == StatusCreated
	}, b.writeHosts)
}

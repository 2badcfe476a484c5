package bridge

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrOverlap is returned when a subnet overlaps a route of the host.
var ErrOverlap = errors.New("subnet overlaps a route of the host")

// CheckOverlap fails if subnet overlaps the destination of any IPv4 route
// of the host's main table other than the default route: the bridge's own
// route would shadow or be shadowed by it.
func CheckOverlap(subnet netip.Prefix) error {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		dst, ok := prefixOf(r.Dst)
		if !ok || dst.Bits() == 0 {
			continue
		}
		if dst.Overlaps(subnet) {
			dev := ""
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
				dev = " dev " + l.Attrs().Name
			}
			return fmt.Errorf("%w: %s overlaps %s%s", ErrOverlap, subnet, dst, dev)
		}
	}
	return nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// linkExists reports whether a link of that name is in the host's
// namespace.
func linkExists(name string) (netlink.Link, bool, error) {
	l, err := netlink.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("find link %s: %w", name, err)
	}
	return l, true, nil
}

// createBridge makes the bridge with the gateway address and brings it
// up. Its MAC address is fixed at creation (random, locally administered)
// so that it does not follow the lowest port's address as workloads come
// and go, which would leave stale ARP entries in the workloads.
func createBridge(name string, subnet netip.Prefix, gw netip.Addr) error {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac)
	mac[0] = mac[0]&^1 | 2
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac, TxQLen: -1}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s: %w", name, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 32)}}
	if err := netlink.AddrAdd(br, addr); err != nil {
		_ = netlink.LinkDel(br)
		return fmt.Errorf("address bridge %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		_ = netlink.LinkDel(br)
		return fmt.Errorf("set bridge %s up: %w", name, err)
	}
	return nil
}

// deleteLink removes a link of the host if it exists.
func deleteLink(name string) error {
	l, ok, err := linkExists(name)
	if err != nil || !ok {
		return err
	}
	if err := netlink.LinkDel(l); err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// Attach gives the process pid's network namespace an interface ifname on
// the bridge: a veth pair whose peer is created directly inside that
// namespace (never visible in the host's), with addr, up, and a default
// route via gw. The host end, veth, joins the bridge.
func Attach(bridge, veth string, pid int, ifname string, addr netip.Addr, subnet netip.Prefix, gw netip.Addr) (err error) {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", bridge, err)
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("open network namespace of %d: %w", pid, err)
	}
	defer ns.Close()
	// Made on the bridge and up in one request: a separate set-master and
	// set-up would be two more round trips to the kernel on every launch.
	v := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: veth, MasterIndex: br.Attrs().Index, MTU: br.Attrs().MTU, TxQLen: -1, Flags: net.FlagUp},
		PeerName:      ifname,
		PeerNamespace: netlink.NsFd(ns),
	}
	if err := netlink.LinkAdd(v); err != nil {
		return fmt.Errorf("create veth %s: %w", veth, err)
	}
	defer func() {
		if err != nil {
			_ = deleteLink(veth)
		}
	}()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE) // one socket, not one per family
	if err != nil {
		return fmt.Errorf("netlink in workload namespace: %w", err)
	}
	defer h.Close()
	peer, err := h.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("find %s in workload: %w", ifname, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 32)}}
	if err := h.AddrAdd(peer, a); err != nil {
		return fmt.Errorf("address %s in workload: %w", ifname, err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		return fmt.Errorf("set %s up in workload: %w", ifname, err)
	}
	route := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: gw.AsSlice()}
	if err := h.RouteAdd(route); err != nil {
		return fmt.Errorf("default route via %s in workload: %w", gw, err)
	}
	return nil
}

// Detach removes the host end of a workload's veth pair (and with it the
// peer), if it is still there. A workload's namespace going away removes
// the pair too (see Store.Leave); Detach is for the pairs of workloads
// that never ran and for namespaces something else keeps alive.
func Detach(veth string) error { return deleteLink(veth) }

// VethPrefix starts the name of every workload veth's host end (the
// launcher adds 12 hex digits of the workload id, filling IFNAMSIZ).
const VethPrefix = "nsv"

// detachLeftovers deletes the workload veths that outlived their
// workloads: those of workloads that left (Store.Leave deletes none) whose
// network namespace something else still holds open, an `ip netns attach`
// of the workload's pid for one. Such a veth is named like a workload's
// and no record's allocation names it; it is either on one of the store's
// bridges or, once its bridge went with its last workload, on none and in
// the store's list of departed veths. The list is what makes a veth on no
// bridge this store's: another state directory's gc (two agents, or the
// tests' parallel stores) must not take it. A port not named like a
// workload's veth (a link a user put on a bridge) is left alone, and so is
// anything on a bridge the store does not record.
//
// It runs at gc only, not when a bridge is torn down: the veth of the
// workload that just left is usually still there for the few milliseconds
// the kernel takes to dismantle its namespace, and deleting it would put
// back the wait Store.Leave avoids (30 ms on a cold launch). The caller
// holds the lock.
func (s Store) detachLeftovers() error {
	bridges, err := s.Bridges()
	if err != nil {
		return err
	}
	departed, err := s.departed()
	if err != nil {
		return err
	}
	ours := map[int]bool{} // master indexes of the store's bridges
	recorded := map[string]bool{}
	for _, b := range bridges {
		r, err := s.Load(b)
		if err != nil || r == nil {
			continue
		}
		for _, a := range r.Allocs {
			recorded[a.Veth] = true
		}
		if br, ok, err := linkExists(b); err == nil && ok {
			ours[br.Attrs().Index] = true
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var errs []error
	for _, l := range links {
		a := l.Attrs()
		if _, veth := l.(*netlink.Veth); !veth || !isWorkloadVeth(a.Name) || recorded[a.Name] {
			continue
		}
		if !ours[a.MasterIndex] && !(a.MasterIndex == 0 && departed[a.Name]) {
			continue
		}
		errs = append(errs, deleteLink(a.Name))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Every departed veth is gone now, deleted here or with its namespace.
	return s.clearDeparted()
}

// isWorkloadVeth reports whether name is VethPrefix and 12 hex digits.
func isWorkloadVeth(name string) bool {
	id, ok := strings.CutPrefix(name, VethPrefix)
	if !ok || len(id) != 12 {
		return false
	}
	for _, c := range id {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

const forwardSysctl = "/proc/sys/net/ipv4/ip_forward"

// enableForwarding turns IPv4 forwarding on and reports whether it was off.
func enableForwarding() (changed bool, err error) {
	b, err := os.ReadFile(forwardSysctl)
	if err != nil {
		return false, fmt.Errorf("read ip_forward: %w", err)
	}
	if strings.TrimSpace(string(b)) == "1" {
		return false, nil
	}
	if err := os.WriteFile(forwardSysctl, []byte("1\n"), 0o644); err != nil {
		return false, fmt.Errorf("enable ip_forward: %w", err)
	}
	return true, nil
}

func disableForwarding() error {
	if err := os.WriteFile(forwardSysctl, []byte("0\n"), 0o644); err != nil {
		return fmt.Errorf("restore ip_forward: %w", err)
	}
	return nil
}

package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/nsagent/nsagent/internal/atomicfile"
)

// Allocation is one workload's address on a bridge.
type Allocation struct {
	// ID is the workload's id; Name and Hostname go into the other
	// workloads' /etc/hosts.
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Hostname string     `json:"hostname,omitempty"`
	Addr     netip.Addr `json:"addr"`
	// Veth is the host end of the workload's veth pair.
	Veth  string `json:"veth"`
	Ports []Port `json:"ports,omitempty"`
}

// Port is a published port: HostPort on the host's addresses forwarded
// to Port of the workload.
type Port struct {
	HostPort uint16 `json:"host_port"`
	Port     uint16 `json:"port"`
	Proto    string `json:"proto"`
}

func (p Port) String() string { return fmt.Sprintf("%d:%d/%s", p.HostPort, p.Port, p.Proto) }

// Record is what nsagent knows of one bridge it made: the subnet, what it
// changed on the host (so that tearing it down restores exactly that) and
// the addresses handed out. It is STATE/ipam-BRIDGE.json.
type Record struct {
	Bridge string       `json:"bridge"`
	Subnet netip.Prefix `json:"subnet"`
	// ForwardingEnabled is set when nsagent turned net.ipv4.ip_forward on
	// (it was off): the teardown turns it off again.
	ForwardingEnabled bool `json:"forwarding_enabled,omitempty"`
	// DockerUser is set when accept rules went into Docker's DOCKER-USER
	// chain.
	DockerUser bool `json:"docker_user,omitempty"`
	// Last is the address handed out last: the next search starts after
	// it, so a released address is the last to be reused.
	Last   netip.Addr   `json:"last,omitzero"`
	Allocs []Allocation `json:"allocations"`
}

// Gateway is the bridge's own address: the subnet's first host.
func (r *Record) Gateway() netip.Addr { return r.Subnet.Masked().Addr().Next() }

// ErrPoolExhausted is returned when every address of a subnet is taken.
var ErrPoolExhausted = errors.New("address pool exhausted")

// Allocate hands out the first free address after Last (wrapping around),
// skipping the network address, the gateway and the broadcast address, and
// records it for a.
func (r *Record) Allocate(a Allocation) (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, o := range r.Allocs {
		if o.ID == a.ID {
			return netip.Addr{}, fmt.Errorf("workload %s already has address %s", a.ID, o.Addr)
		}
		used[o.Addr] = true
	}
	first, last, err := hostRange(r.Subnet)
	if err != nil {
		return netip.Addr{}, err
	}
	start := r.Last.Next()
	if !r.Last.IsValid() || !r.Subnet.Contains(start) || start.Less(first) || last.Less(start) {
		start = first
	}
	for ip := start; ; {
		if !used[ip] {
			a.Addr = ip
			r.Allocs = append(r.Allocs, a)
			r.Last = ip
			return ip, nil
		}
		if ip = ip.Next(); last.Less(ip) {
			ip = first
		}
		if ip == start {
			return netip.Addr{}, fmt.Errorf("%w: every address of %s is in use (%d workloads)", ErrPoolExhausted, r.Subnet, len(r.Allocs))
		}
	}
}

// Release drops id's allocation and returns it (ok false if it had none).
func (r *Record) Release(id string) (Allocation, bool) {
	for i, a := range r.Allocs {
		if a.ID == id {
			r.Allocs = append(r.Allocs[:i], r.Allocs[i+1:]...)
			return a, true
		}
	}
	return Allocation{}, false
}

// Find returns id's allocation.
func (r *Record) Find(id string) (Allocation, bool) {
	for _, a := range r.Allocs {
		if a.ID == id {
			return a, true
		}
	}
	return Allocation{}, false
}

// hostRange is the first and last workload address of an IPv4 subnet:
// after the network address and the gateway, before the broadcast.
func hostRange(p netip.Prefix) (first, last netip.Addr, err error) {
	if !p.Addr().Is4() || p.Bits() < 8 || p.Bits() > 30 {
		return first, last, fmt.Errorf("subnet %s: want IPv4 with a prefix length from 8 to 30", p)
	}
	p = p.Masked()
	first = p.Addr().Next().Next()
	b := p.Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n |= 1<<(32-p.Bits()) - 1
	bc := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	return first, bc.Prev(), nil
}

// ParseSubnet parses --subnet: an IPv4 network in CIDR notation with room
// for a gateway and at least one workload, given as its network address.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("invalid subnet %q (want an IPv4 CIDR such as 10.88.0.0/16)", s)
	}
	if _, _, err := hostRange(p); err != nil {
		return p, fmt.Errorf("invalid subnet %q: want IPv4 with a prefix length from 8 to 30", s)
	}
	if p.Masked() != p {
		return p, fmt.Errorf("invalid subnet %q: host bits set (did you mean %s?)", s, p.Masked())
	}
	return p, nil
}

// Store keeps the bridge records in a directory (the launcher's state
// directory) under one flock: allocating, releasing and setting a bridge
// up or down happen under it, so concurrent launches never get the same
// address and the last one out tears the bridge down exactly once.
type Store struct {
	Dir string
}

const lockName = ".net.lock"

// Lock takes the network lock.
func (s Store) Lock() (func(), error) {
	if err := os.MkdirAll(s.Dir, 0o711); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	return s.lockExisting()
}

// lockExisting takes the network lock without making the state directory.
func (s Store) lockExisting() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, lockName), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open network lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock network state: %w", err)
	}
	return func() { f.Close() }, nil
}

func (s Store) path(bridge string) string { return filepath.Join(s.Dir, "ipam-"+bridge+".json") }

// Load reads the record of bridge; a missing one is (nil, nil).
func (s Store) Load(bridge string) (*Record, error) {
	b, err := os.ReadFile(s.path(bridge))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseRecord(b)
}

func parseRecord(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("network record: %w", err)
	}
	return &r, nil
}

// Save writes r atomically.
func (s Store) Save(r *Record) error {
	sort.Slice(r.Allocs, func(i, j int) bool { return r.Allocs[i].Addr.Less(r.Allocs[j].Addr) })
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.path(r.Bridge), append(b, '\n')); err != nil {
		return fmt.Errorf("write network record: %w", err)
	}
	return nil
}

// Remove deletes the record of bridge.
func (s Store) Remove(bridge string) error {
	err := os.Remove(s.path(bridge))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Bridges lists the bridges with a record.
func (s Store) Bridges() ([]string, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if b, ok := strings.CutPrefix(e.Name(), "ipam-"); ok && strings.HasSuffix(b, ".json") && e.Type().IsRegular() {
			out = append(out, strings.TrimSuffix(b, ".json"))
		}
	}
	return out, nil
}

// departedName is the store's list of the host ends of veths whose
// workloads left (Store.Leave), one name a line. Such a pair usually goes
// with its namespace within milliseconds; the list is how gc knows that a
// veth left on no bridge is this store's (detachLeftovers).
const departedName = "departed-veths"

// addDeparted appends names to the list. It appends rather than rewrites:
// it runs on every workload's exit.
func (s Store) addDeparted(names ...string) (size int64, err error) {
	if len(names) == 0 {
		return 0, nil
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, departedName), os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("record departed veths: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(names, "\n") + "\n"); err != nil {
		return 0, fmt.Errorf("record departed veths: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("record departed veths: %w", err)
	}
	return st.Size(), nil
}

// departed reads the list.
func (s Store) departed() (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, departedName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read departed veths: %w", err)
	}
	m := map[string]bool{}
	for _, n := range strings.Fields(string(b)) {
		m[n] = true
	}
	return m, nil
}

// setDeparted rewrites the list with names; none removes it.
func (s Store) setDeparted(names []string) error {
	p := filepath.Join(s.Dir, departedName)
	if len(names) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("clear departed veths: %w", err)
		}
		return nil
	}
	if err := atomicfile.Write(p, []byte(strings.Join(names, "\n")+"\n")); err != nil {
		return fmt.Errorf("write departed veths: %w", err)
	}
	return nil
}

func (s Store) clearDeparted() error { return s.setDeparted(nil) }

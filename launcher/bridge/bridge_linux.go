package bridge

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// Hook runs under the network lock after a bridge's allocations changed
// (the launcher rewrites the workloads' /etc/hosts with it).
type Hook func(r *Record) error

// Join allocates an address for a on bridge, setting the bridge up first
// when no workload uses it: the link with the gateway address, the
// nftables table, the DOCKER-USER accepts and IPv4 forwarding. It fails,
// changing nothing, when subnet overlaps a route of the host, when the
// bridge exists with another subnet or is not nsagent's, when a port is
// already published, or when the pool is exhausted.
func (s Store) Join(bridge string, subnet netip.Prefix, a Allocation, hook Hook) (_ Allocation, err error) {
	unlock, err := s.Lock()
	if err != nil {
		return a, err
	}
	defer unlock()
	r, err := s.Load(bridge)
	if err != nil {
		return a, err
	}
	if err := s.checkPorts(a.Ports); err != nil {
		return a, err
	}
	if r != nil && r.Subnet != subnet {
		return a, fmt.Errorf("bridge %s has subnet %s, not %s", bridge, r.Subnet, subnet)
	}
	if r != nil {
		// A bridge removed behind nsagent's back comes back.
		if _, ok, err := linkExists(bridge); err != nil {
			return a, err
		} else if !ok && len(r.Allocs) > 0 {
			return a, fmt.Errorf("bridge %s is gone though workloads use it (run nsagent gc)", bridge)
		} else if !ok {
			r = nil
		}
	}
	if r == nil {
		if r, err = s.setUp(bridge, subnet); err != nil {
			return a, err
		}
	}
	mine := func(o Allocation) bool { return o.ID == a.ID }
	if a.Addr, err = r.Allocate(a); err != nil {
		// A bridge set up for this workload alone goes again.
		return a, errors.Join(fmt.Errorf("bridge %s: %w", bridge, err), s.release(r, mine, false, nil))
	}
	if err := s.Save(r); err != nil {
		return a, errors.Join(err, s.release(r, mine, false, nil))
	}
	if hook != nil {
		if err := hook(r); err != nil {
			return a, errors.Join(err, s.release(r, mine, false, nil))
		}
	}
	return a, nil
}

func (s Store) checkPorts(ports []Port) error {
	if len(ports) == 0 {
		return nil
	}
	bridges, err := s.Bridges()
	if err != nil {
		return err
	}
	for _, b := range bridges {
		r, err := s.Load(b)
		if err != nil || r == nil {
			continue
		}
		for _, o := range r.Allocs {
			for _, op := range o.Ports {
				for _, p := range ports {
					if op.HostPort == p.HostPort && op.Proto == p.Proto {
						return fmt.Errorf("host port %d/%s is already published by workload %s", p.HostPort, p.Proto, o.Name)
					}
				}
			}
		}
	}
	return nil
}

// setUp makes the bridge and its rules and records them.
func (s Store) setUp(bridge string, subnet netip.Prefix) (*Record, error) {
	if _, ok, err := linkExists(bridge); err != nil {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("a link named %s exists and is not a bridge nsagent made here (no record in %s)", bridge, s.Dir)
	}
	if err := CheckOverlap(subnet); err != nil {
		return nil, err
	}
	r := &Record{Bridge: bridge, Subnet: subnet}
	// The record goes first: a launcher killed half-way leaves something
	// nsagent gc knows how to undo.
	if err := s.Save(r); err != nil {
		return nil, err
	}
	if err := createBridge(bridge, subnet, r.Gateway()); err != nil {
		_ = s.Remove(bridge)
		return nil, err
	}
	c, err := nftables.New()
	if err == nil {
		installRules(c, bridge, subnet)
		r.DockerUser = addDockerUser(c, bridge)
		err = c.Flush()
	}
	if err != nil {
		err = fmt.Errorf("nftables rules for %s: %w", bridge, err)
	}
	if err == nil {
		r.ForwardingEnabled, err = enableForwarding()
	}
	if err == nil {
		err = s.Save(r)
	}
	if err != nil {
		return nil, errors.Join(err, s.tearDown(r))
	}
	return r, nil
}

// tearDown removes what setUp made: the table, the DOCKER-USER rules, the
// bridge, forwarding if nsagent turned it on, and the record.
func (s Store) tearDown(r *Record) error {
	var errs []error
	for _, a := range r.Allocs {
		errs = append(errs, Detach(a.Veth))
	}
	c, err := nftables.New()
	if err == nil {
		_ = deleteTable(c, r.Bridge)
		err = c.Flush()
		if err == nil {
			// A second transaction: DOCKER-USER may be gone (dockerd
			// stopped), which must not keep the table.
			if err = removeDockerUser(c, r.Bridge); err == nil {
				err = c.Flush()
			}
		}
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("remove nftables rules of %s: %w", r.Bridge, err))
	}
	errs = append(errs, deleteLink(r.Bridge))
	if r.ForwardingEnabled {
		errs = append(errs, disableForwarding())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.Remove(r.Bridge)
}

// Leave releases id's address on bridge: its published ports go. When
// id was the bridge's last workload, the bridge is left idle (recorded,
// with no workload) and Leave reports it: the caller tears it down with
// TearDownIdle, there or in the background. Leaving twice is harmless.
//
// The workload's processes must be gone. Its veth pair is not deleted
// here: the pair lives and dies with the workload's network namespace,
// which the kernel dismantles (and the pair with it, host end included)
// once the last process in it has exited. Deleting it ourselves would put
// the kernel's RCU grace periods of a link deletion (2-15 ms on the
// benchmark machine, most of what the bridge added to a launch) on every
// launch's path. Addresses are handed out round-robin (Record.Allocate),
// so the one released here is not reused while the old pair is going.
// (A namespace something else holds open, such as an `ip netns attach`
// of the workload's pid, keeps its pair until that lets go; GC deletes
// such veths.)
func (s Store) Leave(bridge, id string, hook Hook) (idle bool, err error) {
	unlock, err := s.Lock()
	if err != nil {
		return false, err
	}
	defer unlock()
	r, err := s.Load(bridge)
	if err != nil || r == nil {
		return false, err
	}
	if err := s.release(r, func(a Allocation) bool { return a.ID == id }, true, hook); err != nil {
		return false, err
	}
	return len(r.Allocs) == 0, nil
}

// departedPruneSize is the size past which the list of departed veths is
// pruned as a workload leaves: a bridge that never goes idle on a host
// that never runs gc must not grow it for ever.
const departedPruneSize = 4096

// pruneDeparted drops from the list of departed veths those that are
// gone, with one dump of the host's links. The caller holds the lock.
func (s Store) pruneDeparted() error {
	departed, err := s.departed()
	if err != nil || len(departed) == 0 {
		return err
	}
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var still []string
	for _, l := range links {
		if n := l.Attrs().Name; departed[n] {
			still = append(still, n)
		}
	}
	return s.setDeparted(still)
}

// TearDownIdle removes bridge and everything set up with it if no
// workload has joined it since it went idle; a bridge in use again, or
// already gone, is left as it is.
func (s Store) TearDownIdle(bridge string) error {
	// Not even the lock when there is no record: the lock would make the
	// state directory again if it has been removed meanwhile (this runs
	// in the background, after the command that started it returned).
	if _, err := os.Stat(s.path(bridge)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if done, err := s.tearDownIdle(bridge); err != nil || !done {
		return err
	}
	// The departed veths go with their namespaces, usually within
	// milliseconds; this runs in the background, so it can wait for them
	// (outside the lock) and then leave the list empty, the state
	// directory as it was before the bridge.
	s.waitDeparted(2 * time.Second)
	if _, err := os.Stat(filepath.Join(s.Dir, departedName)); err != nil {
		return nil // none, or the state directory went meanwhile
	}
	unlock, err := s.lockExisting()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	return s.pruneDeparted()
}

func (s Store) tearDownIdle(bridge string) (done bool, err error) {
	unlock, err := s.Lock()
	if err != nil {
		return false, err
	}
	defer unlock()
	r, err := s.Load(bridge)
	if err != nil || r == nil || len(r.Allocs) > 0 {
		return false, err
	}
	return true, s.tearDown(r)
}

// waitDeparted waits up to d for the departed veths to go.
func (s Store) waitDeparted(d time.Duration) {
	departed, err := s.departed()
	if err != nil {
		return
	}
	for end := time.Now().Add(d); len(departed) > 0 && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		for n := range departed {
			if _, ok, err := linkExists(n); err == nil && !ok {
				delete(departed, n)
			}
		}
	}
}

// release drops the allocations gone reports true for. Workloads that
// exited (Leave) keep their veths, which go with their namespaces, and
// leave the bridge idle for TearDownIdle when they were its last;
// otherwise (a launch undone, gc) their veths are deleted and a bridge
// left without workloads is torn down at once.
func (s Store) release(r *Record, gone func(Allocation) bool, exited bool, hook Hook) error {
	var errs []error
	var departed []string
	kept := r.Allocs[:0:0]
	changed := false
	for _, a := range r.Allocs {
		if !gone(a) {
			kept = append(kept, a)
			continue
		}
		changed = true
		if exited {
			departed = append(departed, a.Veth)
		} else {
			errs = append(errs, Detach(a.Veth))
		}
		if len(a.Ports) > 0 {
			errs = append(errs, Unpublish(r.Bridge, a.ID))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if size, err := s.addDeparted(departed...); err != nil {
		return err
	} else if size > departedPruneSize {
		if err := s.pruneDeparted(); err != nil {
			return err
		}
	}
	r.Allocs = kept
	if len(r.Allocs) == 0 && !exited {
		return s.tearDown(r)
	}
	if !changed {
		return nil
	}
	if err := s.Save(r); err != nil {
		return err
	}
	if hook != nil {
		return hook(r)
	}
	return nil
}

// GC releases, on every bridge recorded in the store, the addresses of
// workloads alive reports false for, tears down the bridges left without
// workloads, and deletes the veths of workloads released before whose
// namespace something still holds (detachLeftovers). It returns the ids
// released.
func (s Store) GC(alive func(id string) bool, hook Hook) ([]string, error) {
	unlock, err := s.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	bridges, err := s.Bridges()
	if err != nil {
		return nil, err
	}
	var ids []string
	var errs []error
	for _, b := range bridges {
		r, err := s.Load(b)
		if err != nil || r == nil {
			errs = append(errs, err)
			continue
		}
		err = s.release(r, func(a Allocation) bool {
			if alive(a.ID) {
				return false
			}
			ids = append(ids, a.ID)
			return true
		}, false, hook)
		errs = append(errs, err)
	}
	errs = append(errs, s.detachLeftovers())
	return ids, errors.Join(errs...)
}

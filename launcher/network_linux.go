package launcher

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// Network is how a workload is connected. The launcher calls Parent after
// the init has its namespaces and before the command runs (where a bridge
// network moves a veth end into the workload's namespace), the init calls
// Init inside the workload's network namespace, and Release runs when the
// workload is gone. The networking issue adds a bridge beside these two.
type Network interface {
	// Parent runs in the launcher with the init's host pid.
	Parent(pid int, st *State) error
	// Init runs in the init, inside the workload's network namespace.
	Init(cfg *Config) error
	// Release undoes what Parent did.
	Release(st *State) error
}

// Networks are the network setups by --net name.
var Networks = map[string]Network{
	"none": noneNetwork{},
	"host": hostNetwork{},
}

// noneNetwork is a new network namespace with only lo, up.
type noneNetwork struct{}

func (noneNetwork) Parent(int, *State) error { return nil }
func (noneNetwork) Release(*State) error     { return nil }
func (noneNetwork) Init(*Config) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// hostNetwork shares the host's network namespace: nothing to do.
type hostNetwork struct{}

func (hostNetwork) Parent(int, *State) error { return nil }
func (hostNetwork) Release(*State) error     { return nil }
func (hostNetwork) Init(*Config) error       { return nil }

// Package bridge connects workloads to a host bridge: the bridge link and
// its gateway address, a veth pair per workload whose peer is created
// directly inside the workload's network namespace, an address from a
// small IPAM, NAT to the host's other interfaces, published ports, and the
// teardown of all of it when the last workload leaves: Store.Leave leaves
// the bridge idle and the launcher tears it down in the background
// (`nsagent net-teardown`, unless a workload has joined it meanwhile), so
// that no launch waits the tens of milliseconds the kernel takes to
// delete a bridge; an idle bridge whose tear-down never ran is removed by
// `nsagent gc`.
//
// # What it owns
//
// For a bridge BR with subnet S, and nothing else on the host:
//
//   - the link BR (with S's first address) and the veth host ends, named by
//     the launcher (nsv + the workload id);
//   - the nftables table `ip nsagent-BR`: masquerade of S leaving by any
//     other interface, DNAT of published ports, and a forward chain that
//     lets into BR only replies, traffic between workloads and published
//     ports;
//   - two rules in Docker's DOCKER-USER chain, when dockerd made one,
//     commented `nsagent:BR`;
//   - net.ipv4.ip_forward, only if it was off (it is then turned off again);
//   - STATE/ipam-BR.json and STATE/.net.lock in the launcher's state
//     directory, and STATE/departed-veths while the veths of workloads
//     that left are still going (emptied by the bridge's tear-down once
//     they have gone, or by gc).
//
// Each is recorded (STATE/ipam-BR.json is written before the link is made)
// so that after a launcher is killed `nsagent gc` finds and undoes exactly
// what it made. A workload's veth pair is the exception on a normal exit:
// it lives in the workload's network namespace and the kernel removes it
// with that namespace, tens of milliseconds after the last process
// exits, rather than the launcher waiting for a link deletion's RCU grace
// periods on every launch (Store.Leave). Links, addresses and routes go through netlink
// (vishvananda/netlink), rules through nf_tables (google/nftables); no
// `ip`, `iptables` or `nft` binary is run.
//
// # Why nftables, and why DOCKER-USER
//
// Docker on this kind of host uses iptables-nft (`iptables -V` says
// nf_tables): its rules are nf_tables tables `ip filter` and `ip nat`, and
// it sets the filter FORWARD policy to DROP. A table of nsagent's own is
// the cleanest unit to add and remove — one transaction makes it, deleting
// it removes every chain and rule at once, and nothing in Docker's tables
// has to be parsed or rewritten — and it coexists with Docker's because
// every table's base chains see every packet. That is also its limit: an
// accept in nsagent's forward chain does not override the drop policy of
// Docker's FORWARD chain on the same hook. Forwarded traffic of the bridge
// must be accepted in Docker's chain too, and Docker documents DOCKER-USER
// (jumped to first from FORWARD, never flushed by dockerd) as the place
// for a user's rules. nsagent inserts `-i BR -j ACCEPT` and `-o BR -j
// ACCEPT` there, encoded as iptables-nft encodes them, so iptables-save
// and `iptables -L` show them like any rule, and removes exactly those by
// their comment. The filtering that matters (what may enter BR) is in
// nsagent's own forward chain, whose drop no other chain can undo.
// Docker's chains are never modified otherwise.
//
// With the legacy iptables backend Docker's rules live outside nf_tables
// and DOCKER-USER is not visible here: the bridge then works only if the
// legacy FORWARD policy accepts. A dockerd started after the bridge adds
// its DROP policy without nsagent's accepts; they come with the next
// bridge set-up.
//
// # Published ports
//
// `-p HOSTPORT:PORT` is DNAT in the table's prerouting chain (traffic from
// other hosts or namespaces to any local address of the host) and output
// chain (connections made on the host to one of its own non-loopback
// addresses). Like Docker without its userland proxy, 127.0.0.1:HOSTPORT
// does not answer: reaching a workload from loopback would need
// route_localnet, which would also expose the host's loopback services to
// the bridge, so nsagent never turns it on.
package bridge

package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table (family ip) that holds a bridge's NAT,
// port publishing and forward filtering: one table per bridge, deleted as
// one unit.
func TableName(bridge string) string { return "nsagent-" + bridge }

// dockerUserComment marks the rules nsagent puts into Docker's DOCKER-USER
// chain; iptables-save shows it as `-m comment --comment`.
func dockerUserComment(bridge string) string { return "nsagent:" + bridge }

// ifname is the padded interface name nft itself compares with.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

func cmpIf(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: ifname(name)},
	}
}

func comment(s string) []byte { return userdata.AppendString(nil, userdata.TypeComment, s) }

// installRules creates the bridge's table in one transaction: a leftover
// table of the same name is replaced, so a crash between creation and
// teardown never leaves two sets of rules.
//
//	table ip nsagent-BR {
//	  chain postrouting { type nat hook postrouting priority srcnat
//	    ip saddr SUBNET oifname != BR masquerade }
//	  chain prerouting  { type nat hook prerouting priority dstnat }   # -p rules
//	  chain output      { type nat hook output priority dstnat }       # -p rules
//	  chain forward     { type filter hook forward priority filter; policy accept
//	    oifname BR ct state established,related accept
//	    oifname BR iifname BR accept
//	    oifname BR ct status dnat accept
//	    oifname BR drop }
//	}
func installRules(c *nftables.Conn, bridge string, subnet netip.Prefix) {
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName(bridge)}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})

	net := subnet.Masked().Addr().As4()
	mask := [4]byte{}
	binary.BigEndian.PutUint32(mask[:], ^uint32(0)<<(32-subnet.Bits()))
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: append([]expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask[:], Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: net[:]},
	}, append(cmpIf(expr.MetaKeyOIFNAME, expr.CmpOpNeq, bridge), &expr.Counter{}, &expr.Masq{})...)})

	toBridge := cmpIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge)
	ctBits := func(key expr.CtKey, bits uint32) []expr.Any {
		return []expr.Any{
			&expr.Ct{Key: key, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		}
	}
	verdict := func(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: k}} }
	for _, r := range [][]expr.Any{
		concat(toBridge, ctBits(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), verdict(expr.VerdictAccept)),
		concat(toBridge, cmpIf(expr.MetaKeyIIFNAME, expr.CmpOpEq, bridge), verdict(expr.VerdictAccept)),
		concat(toBridge, ctBits(expr.CtKeySTATUS, ipsDstNAT), verdict(expr.VerdictAccept)),
		concat(toBridge, verdict(expr.VerdictDrop)),
	} {
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: r})
	}
}

// ipsDstNAT is IPS_DST_NAT of the conntrack status bits.
const ipsDstNAT = 1 << 5

func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// deleteTable removes the bridge's table if it exists.
func deleteTable(c *nftables.Conn, bridge string) error {
	t, err := c.ListTableOfFamily(TableName(bridge), nftables.TableFamilyIPv4)
	if err != nil || t == nil {
		return nil // none
	}
	c.DelTable(t)
	return nil
}

// dockerUserChain returns Docker's DOCKER-USER chain when dockerd (with
// the iptables-nft backend) has made one.
func dockerUserChain(c *nftables.Conn) (*nftables.Table, *nftables.Chain) {
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "filter"}
	ch, err := c.ListChain(t, "DOCKER-USER")
	if err != nil || ch == nil {
		return nil, nil
	}
	return t, ch
}

// addDockerUser puts `-i BR -j ACCEPT` and `-o BR -j ACCEPT` at the top of
// DOCKER-USER, in the form iptables-nft itself writes (the name compared
// with its NUL, a counter, the comment as rule user data), so iptables-save
// shows them as ordinary rules. It reports whether the chain exists.
func addDockerUser(c *nftables.Conn, bridge string) bool {
	t, ch := dockerUserChain(c)
	if ch == nil {
		return false
	}
	for _, key := range []expr.MetaKey{expr.MetaKeyOIFNAME, expr.MetaKeyIIFNAME} {
		c.InsertRule(&nftables.Rule{Table: t, Chain: ch, UserData: comment(dockerUserComment(bridge)), Exprs: []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: append([]byte(bridge), 0)},
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}})
	}
	return true
}

// removeDockerUser deletes the rules addDockerUser made (found by their
// comment), leaving every other rule of the chain alone.
func removeDockerUser(c *nftables.Conn, bridge string) error {
	t, ch := dockerUserChain(c)
	if ch == nil {
		return nil
	}
	rules, err := c.GetRules(t, ch)
	if err != nil {
		return fmt.Errorf("list DOCKER-USER: %w", err)
	}
	want := dockerUserComment(bridge)
	for _, r := range rules {
		if s, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && s == want {
			if err := c.DelRule(r); err != nil {
				return fmt.Errorf("delete DOCKER-USER rule: %w", err)
			}
		}
	}
	return nil
}

// Publish adds the DNAT rules of a workload's published ports: traffic to
// any local address of the host on HostPort (arriving from outside, in
// prerouting, or made on the host, in output, except to 127.0.0.0/8, which
// would need route_localnet) goes to addr:Port. The rules carry the
// workload id as their comment.
func Publish(bridge, id string, addr netip.Addr, ports []Port) error {
	if len(ports) == 0 {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName(bridge)}
	for _, p := range ports {
		proto := byte(unix.IPPROTO_TCP)
		if p.Proto == "udp" {
			proto = unix.IPPROTO_UDP
		}
		match := []expr.Any{
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p.HostPort)},
		}
		dnat := []expr.Any{
			&expr.Counter{},
			&expr.Immediate{Register: 1, Data: addr.AsSlice()},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.Port)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		}
		notLoopback := []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127}},
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: &nftables.Chain{Name: "prerouting", Table: t},
			UserData: comment(id), Exprs: concat(match, dnat)})
		c.AddRule(&nftables.Rule{Table: t, Chain: &nftables.Chain{Name: "output", Table: t},
			UserData: comment(id), Exprs: concat(notLoopback, match, dnat)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("publish ports: %w", err)
	}
	return nil
}

// Unpublish removes the rules Publish made for id.
func Unpublish(bridge, id string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName(bridge)}
	n := 0
	for _, name := range []string{"prerouting", "output"} {
		rules, err := c.GetRules(t, &nftables.Chain{Name: name, Table: t})
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s rules: %w", name, err)
		}
		for _, r := range rules {
			if s, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && s == id {
				if err := c.DelRule(r); err != nil {
					return fmt.Errorf("delete rule: %w", err)
				}
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("unpublish ports: %w", err)
	}
	return nil
}

package testutil

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// HostNet is a snapshot of the host's network configuration as the tools
// print it (`ip -j link`, `ip -j addr`, `ip -j route`, `nft list ruleset`,
// `iptables-save`, ip_forward), normalised so that two snapshots of an
// unchanged host are equal: counters, timestamps and address lifetimes
// are dropped. Links whose names match Ignore (other tests' and Docker's
// container veths, which come and go on a shared host) are left out.
type HostNet struct {
	Links, Addrs, Routes []string
	Nft, Iptables        string
	Forwarding           string
}

// ignoredLink matches links a parallel test or container may create;
// docker0's carrier (flags, operstate) is ignored for the same reason.
var ignoredLink = regexp.MustCompile(`^(veth|br-)`)

// SnapshotHostNet takes a HostNet snapshot.
func SnapshotHostNet(t testing.TB) HostNet {
	t.Helper()
	var h HostNet
	h.Links = ipJSON(t, "link")
	h.Addrs = ipJSON(t, "addr")
	h.Routes = ipJSON(t, "route")
	counters := regexp.MustCompile(`(packets|bytes) \d+`)
	h.Nft = counters.ReplaceAllString(Run(t, "nft", "list", "ruleset"), "$1 N")
	var ipt []string
	for _, l := range strings.Split(Run(t, "iptables-save"), "\n") {
		if !strings.HasPrefix(l, "#") {
			ipt = append(ipt, regexp.MustCompile(`\[\d+:\d+\]`).ReplaceAllString(l, "[N:N]"))
		}
	}
	h.Iptables = strings.Join(ipt, "\n")
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	h.Forwarding = strings.TrimSpace(string(b))
	return h
}

func ipJSON(t testing.TB, obj string) []string {
	t.Helper()
	out, err := exec.Command("ip", "-j", obj).Output()
	if err != nil {
		t.Fatalf("ip -j %s: %v", obj, err)
	}
	var items []map[string]any
	if err := json.Unmarshal(out, &items); err != nil {
		t.Fatalf("ip -j %s: %v", obj, err)
	}
	var lines []string
	for _, it := range items {
		name, _ := it["ifname"].(string)
		if name == "" {
			name, _ = it["dev"].(string)
		}
		if ignoredLink.MatchString(name) {
			continue
		}
		if name == "docker0" {
			// Its carrier follows the containers other tests run.
			delete(it, "flags")
			delete(it, "operstate")
		}
		if infos, ok := it["addr_info"].([]any); ok {
			for _, ai := range infos {
				if m, ok := ai.(map[string]any); ok {
					delete(m, "valid_life_time")
					delete(m, "preferred_life_time")
				}
			}
		}
		b, _ := json.Marshal(it)
		lines = append(lines, string(b))
	}
	sort.Strings(lines)
	return lines
}

// Diff describes how h and o differ ("" when equal).
func (h HostNet) Diff(o HostNet) string {
	var b strings.Builder
	list := func(what string, a, c []string) {
		in := map[string]bool{}
		for _, x := range c {
			in[x] = true
		}
		was := map[string]bool{}
		for _, x := range a {
			was[x] = true
			if !in[x] {
				fmt.Fprintf(&b, "%s gone: %s\n", what, x)
			}
		}
		for _, x := range c {
			if !was[x] {
				fmt.Fprintf(&b, "%s new:  %s\n", what, x)
			}
		}
	}
	list("link", h.Links, o.Links)
	list("addr", h.Addrs, o.Addrs)
	list("route", h.Routes, o.Routes)
	for _, x := range []struct{ what, a, c string }{{"nft", h.Nft, o.Nft}, {"iptables", h.Iptables, o.Iptables}} {
		if x.a != x.c {
			n := b.Len()
			list(x.what, strings.Split(x.a, "\n"), strings.Split(x.c, "\n"))
			if b.Len() == n {
				fmt.Fprintf(&b, "%s: same lines, other order:\n%s\n", x.what, x.c)
			}
		}
	}
	if h.Forwarding != o.Forwarding {
		fmt.Fprintf(&b, "ip_forward %s -> %s\n", h.Forwarding, o.Forwarding)
	}
	return b.String()
}

// DirListing lists every path under dir (relative), for before/after
// comparisons of a state directory.
func DirListing(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

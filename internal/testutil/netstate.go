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
// print it (`ip -j link`, `ip -j addr`, `ip -j route`, `nft -j list
// ruleset`, `iptables-save`, ip_forward), one line per object, normalised
// so that two snapshots of an unchanged host are equal: counters,
// handles, timestamps and address lifetimes are dropped.
//
// The host is shared with other tests and helpers, so what is plainly
// theirs is left out: Docker's container veths and user bridges, docker0's
// carrier, outside-host veths (nsout*), workload veths on no bridge, and
// the bridges, veths, nftables tables and DOCKER-USER rules of nsagent test
// bridges other than the test's own (mine).
type HostNet struct {
	Links, Addrs, Routes []string
	Nft, Iptables        []string
	Forwarding           string
}

var (
	// othersLink is never compared: containers' veths, Docker's user
	// bridges, outside hosts' veths, the net tests' stand-ins for a
	// user's own links.
	othersLink = regexp.MustCompile(`^(veth|br-|nsout|nsusr)`)
	// testBridge matches the bridges nsagent tests and benchmarks make.
	testBridge = regexp.MustCompile(`^(nsat|nsbt|nsab)[0-9a-f]*$`)
	commentRe  = regexp.MustCompile(`nsagent:([A-Za-z0-9_.-]+)`)
)

// SnapshotHostNet takes a HostNet snapshot; mine are the test's own
// bridges.
func SnapshotHostNet(t testing.TB, mine ...string) HostNet {
	t.Helper()
	own := map[string]bool{}
	for _, m := range mine {
		own[m] = true
	}
	foreignBridge := func(b string) bool { return testBridge.MatchString(b) && !own[b] }
	foreignLink := func(it map[string]any) bool {
		name, _ := it["ifname"].(string)
		if name == "" {
			name, _ = it["dev"].(string)
		}
		master, _ := it["master"].(string)
		// A workload veth on no bridge is one whose namespace something
		// holds and that outlived its bridge (TestNetPinnedNamespaceGC
		// makes one, in another package running meanwhile). It can't be
		// told whose it is, so none is compared: the tests that make one
		// check it by name, and a departed veth that never goes keeps the
		// state directory's departed-veths list, which the net tests check.
		return othersLink.MatchString(name) || foreignBridge(name) ||
			(strings.HasPrefix(name, "nsv") && (master == "" || foreignBridge(master)))
	}
	var h HostNet
	h.Links = ipJSON(t, "link", foreignLink)
	h.Addrs = ipJSON(t, "addr", foreignLink)
	h.Routes = ipJSON(t, "route", foreignLink)

	out, err := exec.Command("nft", "-j", "list", "ruleset").Output()
	if err != nil {
		t.Fatalf("nft -j list ruleset: %v", err)
	}
	var rs struct {
		Nftables []map[string]map[string]any `json:"nftables"`
	}
	if err := json.Unmarshal(out, &rs); err != nil {
		t.Fatalf("nft -j list ruleset: %v", err)
	}
	for _, item := range rs.Nftables {
		if _, ok := item["metainfo"]; ok {
			continue
		}
		skip := false
		for kind, obj := range item {
			table, _ := obj["table"].(string)
			if kind == "table" {
				table, _ = obj["name"].(string)
			}
			if b, ok := strings.CutPrefix(table, "nsagent-"); ok && foreignBridge(b) {
				skip = true
			}
			if c, _ := obj["comment"].(string); strings.HasPrefix(c, "nsagent:") && foreignBridge(strings.TrimPrefix(c, "nsagent:")) {
				skip = true
			}
			delete(obj, "handle")
		}
		if skip {
			continue
		}
		b, _ := json.Marshal(item)
		h.Nft = append(h.Nft, counterRe.ReplaceAllString(string(b), `"counter":{}`))
	}
	for _, l := range strings.Split(Run(t, "iptables-save"), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if m := commentRe.FindStringSubmatch(l); m != nil && foreignBridge(m[1]) {
			continue
		}
		h.Iptables = append(h.Iptables, regexp.MustCompile(`\[\d+:\d+\]`).ReplaceAllString(l, "[N:N]"))
	}
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	h.Forwarding = strings.TrimSpace(string(b))
	return h
}

// counterRe matches a counter as json.Marshal writes it (keys sorted).
var counterRe = regexp.MustCompile(`"counter":\{"bytes":\d+,"packets":\d+\}`)

func ipJSON(t testing.TB, obj string, skip func(map[string]any) bool) []string {
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
		if skip(it) {
			continue
		}
		name, _ := it["ifname"].(string)
		if name == "" {
			name, _ = it["dev"].(string)
		}
		if name == "docker0" {
			// Its carrier follows the containers others run.
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
	for _, x := range []struct {
		what string
		a, c []string
	}{{"nft", h.Nft, o.Nft}, {"iptables", h.Iptables, o.Iptables}} {
		if strings.Join(x.a, "\n") != strings.Join(x.c, "\n") {
			n := b.Len()
			list(x.what, x.a, x.c)
			if b.Len() == n {
				fmt.Fprintf(&b, "%s: same lines, other order:\n%s\n", x.what, strings.Join(x.c, "\n"))
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

package bridge

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestAllocate(t *testing.T) {
	addrs := func(r *Record, ids ...string) []string {
		var out []string
		for _, id := range ids {
			a, err := r.Allocate(Allocation{ID: id})
			if err != nil {
				out = append(out, "error: "+err.Error())
				continue
			}
			out = append(out, a.String())
		}
		return out
	}
	for _, c := range []struct {
		name    string
		subnet  string
		release []string // released after the first allocations
		first   []string
		then    []string
		want    []string
	}{
		{name: "skips network and gateway", subnet: "10.88.0.0/16", first: []string{"a", "b"},
			want: []string{"10.88.0.2", "10.88.0.3"}},
		{name: "a /30 has one workload address", subnet: "10.9.9.0/30", first: []string{"a", "b"},
			want: []string{"10.9.9.2", "error: address pool exhausted: every address of 10.9.9.0/30 is in use (1 workloads)"}},
		{name: "released address is the last reused", subnet: "10.9.9.0/29", first: []string{"a", "b"}, release: []string{"a"},
			then: []string{"c", "d", "e", "f", "g"},
			want: []string{"10.9.9.2", "10.9.9.3", "10.9.9.4", "10.9.9.5", "10.9.9.6", "10.9.9.2", "error: address pool exhausted: every address of 10.9.9.0/29 is in use (5 workloads)"}},
		{name: "never the broadcast", subnet: "10.9.9.0/29", first: []string{"a", "b", "c", "d", "e", "f"},
			want: []string{"10.9.9.2", "10.9.9.3", "10.9.9.4", "10.9.9.5", "10.9.9.6", "error: address pool exhausted: every address of 10.9.9.0/29 is in use (5 workloads)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &Record{Bridge: "b", Subnet: netip.MustParsePrefix(c.subnet)}
			got := addrs(r, c.first...)
			for _, id := range c.release {
				if _, ok := r.Release(id); !ok {
					t.Fatalf("release %s: not allocated", id)
				}
			}
			got = append(got, addrs(r, c.then...)...)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("(-want +got)\n-%v\n+%v", c.want, got)
			}
		})
	}
}

func TestAllocateTwiceForOneID(t *testing.T) {
	r := &Record{Subnet: netip.MustParsePrefix("10.1.0.0/24")}
	if _, err := r.Allocate(Allocation{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Allocate(Allocation{ID: "x"}); err == nil || errors.Is(err, ErrPoolExhausted) {
		t.Errorf("second allocation for one id: %v", err)
	}
}

func TestParseSubnet(t *testing.T) {
	for _, c := range []struct{ name, in, err string }{
		{"default", "10.88.0.0/16", ""},
		{"small", "10.1.2.0/30", ""},
		{"host bits", "10.1.2.3/24", "host bits set (did you mean 10.1.2.0/24?)"},
		{"too small", "10.1.2.0/31", "prefix length from 8 to 30"},
		{"too big", "10.0.0.0/7", "prefix length from 8 to 30"},
		{"ipv6", "fd00::/64", "want IPv4"},
		{"garbage", "ten", "want an IPv4 CIDR"},
		{"no length", "10.1.2.0", "want an IPv4 CIDR"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSubnet(c.in)
			switch {
			case c.err == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("error %v, want one containing %q", err, c.err)
			}
		})
	}
}

func TestStoreRoundTrip(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	r := &Record{Bridge: "nsx", Subnet: netip.MustParsePrefix("10.3.0.0/24"), DockerUser: true}
	for _, id := range []string{"b", "a"} {
		if _, err := r.Allocate(Allocation{ID: id, Name: "n" + id, Ports: []Port{{HostPort: 8080, Port: 80, Proto: "tcp"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Save(r); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("nsx")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", r) {
		t.Errorf("(-want +got)\n-%+v\n+%+v", r, got)
	}
	if b, _ := s.Bridges(); fmt.Sprint(b) != "[nsx]" {
		t.Errorf("bridges %v", b)
	}
	if err := s.Remove("nsx"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load("nsx"); got != nil || err != nil {
		t.Errorf("after remove: %v %v", got, err)
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"bridge":"b","subnet":"10.0.0.0/24","allocations":[{"id":"a","addr":"10.0.0.2"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRecord(b)
		if err != nil {
			return
		}
		if r.Subnet.IsValid() {
			_, _ = r.Allocate(Allocation{ID: "fuzz"})
		}
	})
}

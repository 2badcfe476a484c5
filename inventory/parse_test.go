package inventory

import (
	"reflect"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    procStat
		wantErr bool
	}{
		{
			name: "plain",
			in:   "1234 (sleep) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5678 1000000 100 18446744073709551615",
			want: procStat{Comm: "sleep", State: "S", PPID: 1, Threads: 1, StartTicks: 5678},
		},
		{
			name: "comm with spaces and parens",
			in:   "300 (weird (name) x) R 7 300 300 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 99 1 1 1",
			want: procStat{Comm: "weird (name) x", State: "R", PPID: 7, Threads: 3, StartTicks: 99},
		},
		{
			name: "kernel thread",
			in:   "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0 18446744073709551615",
			want: procStat{Comm: "kthreadd", State: "S", PPID: 0, Threads: 1, StartTicks: 1, Kernel: true},
		},
		{name: "no comm", in: "1 sleep S 1", wantErr: true},
		{name: "truncated", in: "1 (sleep) S 1 1 1", wantErr: true},
		{name: "bad ppid", in: "1 (a) S x 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("(-want +got)\n-%+v\n+%+v", tc.want, got)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	in := "Name:\tsh\nUid:\t1000\t0\t0\t0\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\nCapEff:\t00000000a80425fb\n"
	got, err := parseStatus([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := procStatus{Security: Security{Seccomp: 2, SeccompFilters: 3, NoNewPrivs: true, CapEff: 0xa80425fb}, EUID: 0}
	if got != want {
		t.Errorf("(-want +got)\n-%+v\n+%+v", want, got)
	}
	if _, err := parseStatus([]byte("CapEff:\tzz\n")); err == nil {
		t.Error("bad CapEff: want error")
	}
	if _, err := parseStatus([]byte("Uid:\t1\n")); err == nil {
		t.Error("short Uid: want error")
	}
}

func TestParseCgroupFile(t *testing.T) {
	got, err := parseCgroupFile([]byte("9:name=systemd:/\n4:memory:/docker/abc\n2:cpu,cpuacct:/x\n0::/docker/abc\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []CgroupRef{
		{HierarchyID: 9, Controllers: []string{"name=systemd"}, Path: "/"},
		{HierarchyID: 4, Controllers: []string{"memory"}, Path: "/docker/abc"},
		{HierarchyID: 2, Controllers: []string{"cpu", "cpuacct"}, Path: "/x"},
		{HierarchyID: 0, Path: "/docker/abc"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("(-want +got)\n-%+v\n+%+v", want, got)
	}
	p := &Process{Cgroups: got}
	if p.CgroupPath("memory") != "/docker/abc" || p.CgroupPath("cpuacct") != "/x" || p.CgroupPath("pids") != "/docker/abc" {
		t.Errorf("CgroupPath: memory=%q cpuacct=%q pids(unified fallback)=%q", p.CgroupPath("memory"), p.CgroupPath("cpuacct"), p.CgroupPath("pids"))
	}
	for _, bad := range []string{"x:memory:/", "4:memory", "nocolons"} {
		if _, err := parseCgroupFile([]byte(bad)); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func TestParseNSLink(t *testing.T) {
	for _, tc := range []struct {
		in      string
		typ     NSType
		ino     uint64
		wantErr bool
	}{
		{"net:[4026531840]", NSNet, 4026531840, false},
		{"pid_for_children:[4026531836]", "pid_for_children", 4026531836, false},
		{"net:4026531840", "", 0, true},
		{"net:[x]", "", 0, true},
		{"/dev/null", "", 0, true},
	} {
		typ, ino, err := parseNSLink(tc.in)
		if (err != nil) != tc.wantErr || typ != tc.typ || ino != tc.ino {
			t.Errorf("parseNSLink(%q) = %q, %d, %v", tc.in, typ, ino, err)
		}
	}
	if nsLinkType([]byte("socket:[123]")) != "" || nsLinkType([]byte("net:[1]")) != NSNet {
		t.Error("nsLinkType must accept namespaces only")
	}
}

func TestParseCgroupValues(t *testing.T) {
	if v, err := parseMax([]byte("max\n")); err != nil || v != nil {
		t.Errorf("max: %v %v", v, err)
	}
	if v, err := parseMax([]byte("4194304\n")); err != nil || v == nil || *v != 4194304 {
		t.Errorf("number: %v %v", v, err)
	}
	if _, err := parseMax([]byte("-1")); err == nil {
		t.Error("-1: want error")
	}
	q, p, err := parseCPUMax([]byte("50000 100000\n"))
	if err != nil || q == nil || *q != 50000 || p != 100000 {
		t.Errorf("cpu.max: %v %d %v", q, p, err)
	}
	if q, _, err := parseCPUMax([]byte("max 100000")); err != nil || q != nil {
		t.Errorf("cpu.max max: %v %v", q, err)
	}
	if _, _, err := parseCPUMax([]byte("50000")); err == nil {
		t.Error("cpu.max one field: want error")
	}
	psi, err := parsePSI([]byte("some avg10=1.50 avg60=0.00 avg300=0.00 total=42\nfull avg10=0.25 avg60=0.00 avg300=0.00 total=7\n"))
	if err != nil || psi != (PSI{SomeTotalMicros: 42, FullTotalMicros: 7, SomeAvg10: 1.5, FullAvg10: 0.25}) {
		t.Errorf("psi: %+v %v", psi, err)
	}
	if _, err := parsePSI([]byte("other avg10=1 total=2")); err == nil {
		t.Error("psi unknown line: want error")
	}
	kv := parseKeyed([]byte("oom_kill_disable 0\nunder_oom 0\noom_kill 3\ngarbage\n"))
	if kv["oom_kill"] != 3 || len(kv) != 3 {
		t.Errorf("keyed: %v", kv)
	}
}

func TestParsePasswd(t *testing.T) {
	u := parsePasswd([]byte("root:x:0:0:root:/root:/bin/sh\n#c:x:5:5\nbad\nalice:x:1000:1000::/:/bin/sh\nroot2:x:0:0::/:/bin/sh\n"))
	if u[0] != "root" || u[1000] != "alice" || len(u) != 2 {
		t.Errorf("passwd: %v", u)
	}
}

func TestParseCmdline(t *testing.T) {
	if got := parseCmdline([]byte("sleep\x00100\x00")); !reflect.DeepEqual(got, []string{"sleep", "100"}) {
		t.Errorf("got %q", got)
	}
	if got := parseCmdline(nil); got != nil {
		t.Errorf("empty: got %q", got)
	}
	p := &Process{Comm: "kthreadd"}
	if p.Command() != "kthreadd" {
		t.Errorf("Command of a kernel thread = %q", p.Command())
	}
	p.Cmdline = []string{"a", "b c"}
	if p.Command() != "a b c" {
		t.Errorf("Command = %q", p.Command())
	}
}

func TestParseNSFSMounts(t *testing.T) {
	in := "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n" +
		"612 22 0:4 net:[4026532500] /run/netns/blue rw shared:5 - nsfs nsfs rw\n" +
		"613 22 0:4 net:[4026532501] /run/netns/with\\040space rw - nsfs nsfs rw\n" +
		"614 22 0:4 garbage /x rw - nsfs nsfs rw\n" +
		"615 22 0:4 mnt:[4026532502] /y rw - nsfs nsfs rw\n"
	got := parseNSFSMounts([]byte(in))
	want := []NSFSMount{
		{NSKey{NSNet, 4026532500}, "/run/netns/blue"},
		{NSKey{NSNet, 4026532501}, "/run/netns/with space"},
		{NSKey{NSMnt, 4026532502}, "/y"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("(-want +got)\n-%+v\n+%+v", want, got)
	}
}

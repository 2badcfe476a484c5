package inventory

import "testing"

// The parsers read files that the kernel writes but that a hostile process
// shapes (comm, cmdline) or that a fixture or a host mounted elsewhere may
// hold anything: none may panic. Seeds are in testdata/fuzz.

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0"))
	f.Add([]byte("9 ()) ) Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStat(b)
		if err == nil && st.State == "" {
			t.Errorf("parsed %q without a state", b)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Uid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\nSeccomp:\t2\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseStatus(b) })
}

func FuzzParseCgroupFile(f *testing.F) {
	f.Add([]byte("0::/\n"))
	f.Add([]byte("4:memory:/docker/x\n1:cpu,cpuacct:/\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := parseCgroupFile(b)
		if err == nil {
			p := Process{Cgroups: refs}
			_ = p.CgroupPath("memory")
		}
	})
}

func FuzzParseNSLink(f *testing.F) {
	f.Add("net:[4026531840]")
	f.Fuzz(func(t *testing.T, s string) {
		typ, ino, err := parseNSLink(s)
		if err == nil && (typ == "" && ino == 0) {
			t.Errorf("no error but nothing parsed from %q", s)
		}
	})
}

func FuzzParsePSI(f *testing.F) {
	f.Add([]byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parsePSI(b) })
}

func FuzzParseCPUMax(f *testing.F) {
	f.Add([]byte("max 100000"))
	f.Add([]byte("50000 100000"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _, _ = parseCPUMax(b) })
}

func FuzzParseNSFSMounts(f *testing.F) {
	f.Add([]byte("612 22 0:4 net:[4026532500] /run/netns/blue rw shared:5 - nsfs nsfs rw\n"))
	f.Add([]byte("1 2 3 4 \\0 - nsfs "))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range parseNSFSMounts(b) {
			if m.Key.Type.Index() < 0 {
				t.Errorf("unknown type %q accepted", m.Key.Type)
			}
		}
	})
}

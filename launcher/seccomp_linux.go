package launcher

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	profiles "github.com/moby/profiles/seccomp"
	"github.com/nsagent/nsagent/internal/atomicfile"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// maxSyscallNr bounds the ENOSYS stub (see compileSeccomp); above it the
// profile's default action applies.
const maxSyscallNr = 1023

// Seccomp is compiled in the launcher with libseccomp (the design's
// choice; the binary is cgo and static already, so it costs no new build
// mode) from Docker's profile format, parsed and filtered for the
// workload's capabilities, architecture and kernel by
// moby/profiles/seccomp — Docker's own code and default profile, rather
// than a copy of the list kept here. The result is a raw BPF program the
// init installs with seccomp(2) right before execve: the init links but
// never calls libseccomp, and the program is cached by what it depends on
// (profile, capabilities, kernel, nsagent binary), so the default profile
// is compiled once, not on every launch.

// SeccompProgram returns the BPF program for mode (SeccompDefault,
// SeccompUnconfined or a profile file in Docker's JSON format) and the
// capabilities the workload keeps, compiled or from the cache under
// cacheDir. Unconfined is nil.
func SeccompProgram(mode string, caps []string, cacheDir string) ([]byte, error) {
	if mode == SeccompUnconfined {
		return nil, nil
	}
	var body []byte
	if mode != SeccompDefault {
		var err error
		if body, err = os.ReadFile(mode); err != nil {
			return nil, fmt.Errorf("seccomp profile: %w", err)
		}
	}
	key := seccompCacheKey(mode, body, caps)
	cache := filepath.Join(cacheDir, "seccomp", key+".bpf")
	if b, err := os.ReadFile(cache); err == nil && len(b) > 0 && len(b)%8 == 0 {
		return b, nil
	}
	prog, err := compileSeccomp(mode, body, caps)
	if err != nil {
		return nil, err
	}
	// A cache that cannot be written only costs the next launch a compile.
	if err := os.MkdirAll(filepath.Dir(cache), 0o700); err == nil {
		_ = atomicfile.Write(cache, prog)
	}
	return prog, nil
}

// seccompCacheKey names what a compiled program depends on: the profile
// (Docker's default is part of the binary, so the binary's identity
// stands for it), the capabilities (rules are included or excluded by
// them), the kernel release (minKernel rules) and libseccomp's version.
func seccompCacheKey(mode string, body []byte, caps []string) string {
	h := sha256.New()
	if mode == SeccompDefault {
		var st unix.Stat_t
		_ = unix.Stat("/proc/self/exe", &st)
		fmt.Fprintf(h, "default %d %d %d\n", st.Ino, st.Size, st.Mtim.Nano())
	} else {
		fmt.Fprintf(h, "file %d\n", len(body))
		h.Write(body)
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	a, b, c := libseccomp.GetLibraryVersion()
	fmt.Fprintf(h, "%s\n%s\n%d.%d.%d\n%s\n", strings.Join(caps, ","), unix.ByteSliceToString(u.Release[:]), a, b, c, runtime.GOARCH)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// compileSeccomp builds the BPF program of a profile.
func compileSeccomp(mode string, body []byte, caps []string) ([]byte, error) {
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	var cfg *specs.LinuxSeccomp
	var err error
	strict := mode != SeccompDefault
	if strict {
		cfg, err = profiles.LoadProfile(string(body), spec)
	} else {
		cfg, err = profiles.GetDefaultProfile(spec)
	}
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", mode, lowerFirst(err))
	}
	if cfg == nil {
		return nil, fmt.Errorf("seccomp profile %s: no defaultAction and no syscalls", mode)
	}
	def, err := seccompAction(cfg.DefaultAction, cfg.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: defaultAction: %w", mode, err)
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	defer f.Release()
	// A binary tree of syscall numbers rather than libseccomp's linear
	// chain: the kernel walks the program for every syscall number when it
	// loads it (seccomp's action cache, Linux 5.11+), and every syscall
	// the workload makes walks it too. Docker's profile: 1,307
	// instructions against 1,062, loaded in 0.61 ms against 0.93 (100
	// loads each, forked children, this machine). A libseccomp older than
	// 2.5 refuses the attribute and keeps the chain.
	_ = f.SetOptimize(2)
	// The init sets no_new_privs itself (or not, for --privileged).
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	for _, a := range cfg.Architectures {
		arch, err := libseccomp.GetArchFromString(strings.ToLower(strings.TrimPrefix(string(a), "SCMP_ARCH_")))
		if err != nil {
			return nil, fmt.Errorf("seccomp profile %s: unknown architecture %q", mode, a)
		}
		if err := f.AddArch(arch); err != nil {
			return nil, fmt.Errorf("seccomp profile %s: architecture %s: %w", mode, a, err)
		}
	}
	maxNr := -1
	for _, sc := range cfg.Syscalls {
		act, err := seccompAction(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("seccomp profile %s: syscalls %v: %w", mode, sc.Names, err)
		}
		conds, err := seccompConditions(sc.Args)
		if err != nil {
			return nil, fmt.Errorf("seccomp profile %s: syscalls %v: %w", mode, sc.Names, err)
		}
		for _, name := range sc.Names {
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				// Docker's profile names syscalls newer than some
				// libseccomp releases know; a user's profile must not
				// have a name nobody knows.
				if strict {
					return nil, fmt.Errorf("seccomp profile %s: unknown syscall %q", mode, name)
				}
				continue
			}
			if n, err := libseccomp.GetSyscallFromNameByArch(name, libseccomp.ArchNative); err == nil && int(n) > maxNr {
				maxNr = int(n)
			}
			if act == def {
				continue // libseccomp refuses a rule that is the default
			}
			for _, cs := range conds {
				if len(cs) == 0 {
					err = f.AddRule(nr, act)
				} else {
					err = f.AddRuleConditional(nr, act, cs)
				}
				if err != nil {
					return nil, fmt.Errorf("seccomp profile %s: rule for %s: %w", mode, name, err)
				}
			}
		}
	}
	prog, err := exportBPF(f)
	if err != nil {
		return nil, fmt.Errorf("seccomp: export: %w", err)
	}
	// Docker's semantics for syscalls newer than the profile: ENOSYS, not
	// the default EPERM, so that libc falls back to an older call rather
	// than failing. libseccomp cannot name numbers it does not know, so
	// the check goes in front of its program, as runc patches its own.
	if def != libseccomp.ActAllow && def != libseccomp.ActLog && maxNr > 0 {
		prog = append(enosysStub(uint32(maxNr)), prog...)
	}
	return prog, nil
}

// exportBPF gets the program through a memfd (ExportBPFMem needs
// libseccomp 2.6; Debian 12 has 2.5).
func exportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("nsagent-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	mf := os.NewFile(uintptr(fd), "seccomp-bpf")
	defer mf.Close()
	if err := f.ExportBPF(mf); err != nil {
		return nil, err
	}
	if _, err := mf.Seek(0, 0); err != nil {
		return nil, err
	}
	return io.ReadAll(mf)
}

// auditArch is the AUDIT_ARCH_* of the native architecture, as
// seccomp_data.arch carries it.
var auditArch = map[string]uint32{"amd64": 0xc000003e, "arm64": 0xc00000b7, "386": 0x40000003}

// enosysStub is classic BPF returning ENOSYS for a native syscall whose
// number is above maxNr (x32's, with bit 30 set, are left to the rest).
func enosysStub(maxNr uint32) []byte {
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return nil
	}
	const (
		ldAbs = 0x20 // BPF_LD|BPF_W|BPF_ABS
		jeq   = 0x15 // BPF_JMP|BPF_JEQ|BPF_K
		jge   = 0x35 // BPF_JMP|BPF_JGE|BPF_K
		jgt   = 0x25 // BPF_JMP|BPF_JGT|BPF_K
		ret   = 0x06 // BPF_RET|BPF_K
	)
	insns := []unix.SockFilter{
		{Code: ldAbs, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 0, Jf: 4, K: arch},
		{Code: ldAbs, K: 0}, // seccomp_data.nr
		{Code: jge, Jt: 2, Jf: 0, K: 0x40000000},
		{Code: jgt, Jt: 0, Jf: 1, K: maxNr},
		{Code: ret, K: 0x00050000 | uint32(unix.ENOSYS)}, // SECCOMP_RET_ERRNO
	}
	out := make([]byte, 0, len(insns)*8)
	for _, in := range insns {
		out = append(out, byte(in.Code), byte(in.Code>>8), in.Jt, in.Jf,
			byte(in.K), byte(in.K>>8), byte(in.K>>16), byte(in.K>>24))
	}
	return out
}

// seccompAction maps a profile's action name.
func seccompAction(a specs.LinuxSeccompAction, errnoRet *uint) (libseccomp.ScmpAction, error) {
	errno := int16(unix.EPERM)
	if errnoRet != nil {
		errno = int16(*errnoRet)
	}
	switch a {
	case specs.ActAllow:
		return libseccomp.ActAllow, nil
	case specs.ActErrno:
		return libseccomp.ActErrno.SetReturnCode(errno), nil
	case specs.ActKill, specs.ActKillThread:
		return libseccomp.ActKillThread, nil
	case specs.ActKillProcess:
		return libseccomp.ActKillProcess, nil
	case specs.ActTrap:
		return libseccomp.ActTrap, nil
	case specs.ActTrace:
		return libseccomp.ActTrace.SetReturnCode(errno), nil
	case specs.ActLog:
		return libseccomp.ActLog, nil
	}
	return 0, fmt.Errorf("unknown or unsupported action %q", a)
}

// seccompConditions turns a rule's argument checks into one or more sets
// of conditions, each a rule of its own: checks of different arguments
// must all hold (one rule), while several checks of the same argument
// are alternatives (a rule each), as runc reads Docker's profiles.
func seccompConditions(args []specs.LinuxSeccompArg) ([][]libseccomp.ScmpCondition, error) {
	ops := map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
		specs.OpNotEqual: libseccomp.CompareNotEqual, specs.OpLessThan: libseccomp.CompareLess,
		specs.OpLessEqual: libseccomp.CompareLessOrEqual, specs.OpEqualTo: libseccomp.CompareEqual,
		specs.OpGreaterEqual: libseccomp.CompareGreaterEqual, specs.OpGreaterThan: libseccomp.CompareGreater,
		specs.OpMaskedEqual: libseccomp.CompareMaskedEqual,
	}
	var conds []libseccomp.ScmpCondition
	sameIndex := false
	seen := map[uint]bool{}
	for _, a := range args {
		op, ok := ops[a.Op]
		if !ok {
			return nil, fmt.Errorf("unknown operator %q", a.Op)
		}
		vals := []uint64{a.Value}
		if a.Op == specs.OpMaskedEqual {
			vals = []uint64{a.Value, a.ValueTwo}
		}
		c, err := libseccomp.MakeCondition(a.Index, op, vals...)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", a.Index, err)
		}
		sameIndex = sameIndex || seen[a.Index]
		seen[a.Index] = true
		conds = append(conds, c)
	}
	if !sameIndex {
		return [][]libseccomp.ScmpCondition{conds}, nil
	}
	var out [][]libseccomp.ScmpCondition
	for _, c := range conds {
		out = append(out, []libseccomp.ScmpCondition{c})
	}
	return out, nil
}

func lowerFirst(err error) error {
	s := err.Error()
	if s == "" {
		return err
	}
	return errors.New(strings.ToLower(s[:1]) + s[1:])
}

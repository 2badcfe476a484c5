package launcher

import (
	"encoding/binary"
	"path/filepath"

	"github.com/nsagent/nsagent/images/layerfs"
)

// The init is C (package nsenter, nsinit.c) and takes its config as
// records: a tag byte, a little-endian uint32 length and that many bytes;
// the whole is preceded by its own length, so that the init reads it in
// one call (and never reads past it into the cgroup fds' message). Every
// string ends with a NUL on the wire, so the init uses the records where
// they lie.
// The launcher resolves everything it can (the environment, the network's
// part, the overlay's options, which binds are directories), so the init
// only makes system calls.
const (
	wireRootfs     = 'R' // the root filesystem directory
	wireOverlay    = 'O' // target NUL options NUL: an overlay root to mount and use
	wireHostname   = 'H'
	wireJoinNetns  = 'J' // a network namespace file to setns into
	wireLoUp       = 'L'
	wireReadOnly   = 'r'
	wirePrivileged = 'P' // no masked or read-only paths
	wireTTY        = 'T'
	wireNoNewPrivs = 'N'
	wireCgroupNS   = 'G' // unshare the cgroup namespace once in the cgroup
	wireUser       = 'U' // uid, gid: two uint32
	wireCaps       = 'K' // uint64 mask of the capabilities kept
	wireSeccomp    = 'S' // raw BPF program
	wireSeccompSrc = 'M' // the profile's name, for messages
	wireBind       = 'B' // flags byte, source NUL, target NUL
	wireArg        = 'A'
	wireEnv        = 'E'
	wireCwd        = 'D'
	wireEnd        = 'Z'
)

// Flags of a wireBind record.
const (
	bindReadOnly = 1 << iota
	bindCreate   // make the target file if missing; without it a missing file target is skipped
	bindDir
	bindVolume // a -v volume: errors name it
)

// On the sync socket, after the config, the launcher sends one byte with
// the cgroup.procs fds attached and then "p" once the network's host side
// is done. The init replies "x" right before execve (EOF follows when it
// succeeds), or "e", a little-endian int32 exit code, a uint32 length and
// the message.
const (
	syncExec   = 'x'
	syncError  = 'e'
	syncParent = 'p'
)

type wire []byte

func (w *wire) rec(tag byte, b []byte) {
	*w = append(*w, tag)
	*w = binary.LittleEndian.AppendUint32(*w, uint32(len(b)))
	*w = append(*w, b...)
}

func (w *wire) str(tag byte, s string) { w.rec(tag, append([]byte(s), 0)) }
func (w *wire) flag(tag byte, on bool) {
	if on {
		w.rec(tag, nil)
	}
}

// encodeInit writes the init's config. It makes the overlay's directories
// when the root is an image's layers.
func encodeInit(ic *initConfig, net Network) (wire, error) {
	w := wire{0, 0, 0, 0} // the length, set at the end
	if len(ic.Layers) > 0 {
		target, opts, err := layerfs.OverlayRoot(ic.Layers, ic.WorkloadDir)
		if err != nil {
			return nil, err
		}
		w.str(wireOverlay, target+"\x00"+opts)
	} else {
		w.str(wireRootfs, ic.Rootfs)
	}
	if ic.Namespaces.UTS == NSNew && ic.Hostname != "" {
		w.str(wireHostname, ic.Hostname)
	}
	loUp, join := net.InitNet()
	w.flag(wireLoUp, loUp)
	if join != "" {
		w.str(wireJoinNetns, join)
	}
	w.flag(wireReadOnly, ic.ReadOnly)
	w.flag(wirePrivileged, ic.Privileged)
	w.flag(wireTTY, ic.TTY)
	w.flag(wireNoNewPrivs, ic.NoNewPrivs)
	w.flag(wireCgroupNS, ic.Namespaces.Cgroup == NSNew)
	w.rec(wireUser, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, uint32(ic.UID)), uint32(ic.GID)))
	w.rec(wireCaps, binary.LittleEndian.AppendUint64(nil, capMask(ic.Caps)))
	if len(ic.SeccompProg) > 0 {
		w.rec(wireSeccomp, ic.SeccompProg)
		w.str(wireSeccompSrc, ic.SeccompMode())
	}
	bind := func(src, target string, flags byte) {
		w.str(wireBind, string([]byte{flags})+src+"\x00"+filepath.Clean("/"+target))
	}
	for _, name := range etcFiles {
		var f byte = bindCreate
		if ic.ReadOnly {
			f = 0
		}
		bind(filepath.Join(ic.WorkloadDir, name), "/etc/"+name, f)
	}
	for i, m := range ic.Mounts {
		f := byte(bindVolume)
		if ic.VolumeDirs[i] {
			f |= bindDir
		} else {
			f |= bindCreate
		}
		if m.ReadOnly {
			f |= bindReadOnly
		}
		bind(m.Source, m.Target, f)
	}
	for _, a := range ic.Args {
		w.str(wireArg, a)
	}
	for _, e := range workloadEnv(&ic.Config) {
		w.str(wireEnv, e)
	}
	if ic.Cwd != "" {
		w.str(wireCwd, ic.Cwd)
	}
	w.rec(wireEnd, nil)
	binary.LittleEndian.PutUint32(w, uint32(len(w)-4))
	return w, nil
}

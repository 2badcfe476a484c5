package inventory

import (
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ioctl requests of nsfs (linux/nsfs.h); x/sys/unix does not export them.
const (
	nsGetUserns = 0xb701 // _IO(0xb7, 0x1): fd of the owning user namespace
	nsGetParent = 0xb702 // _IO(0xb7, 0x2): fd of the parent pid/user namespace
	nsGetNSType = 0xb703 // _IO(0xb7, 0x3): the namespace's CLONE_NEW* flag
)

// cloneFlagTypes maps NS_GET_NSTYPE's answer to a namespace type.
var cloneFlagTypes = map[int]NSType{
	unix.CLONE_NEWNS: NSMnt, unix.CLONE_NEWNET: NSNet, unix.CLONE_NEWPID: NSPID,
	unix.CLONE_NEWUTS: NSUTS, unix.CLONE_NEWIPC: NSIPC, unix.CLONE_NEWUSER: NSUser,
	unix.CLONE_NEWCGROUP: NSCgroup, unix.CLONE_NEWTIME: NSTime,
}

// nsOfFD opens descriptor name of an fd directory and asks the kernel
// whether it is a namespace (NS_GET_NSTYPE fails with ENOTTY otherwise).
func nsOfFD(fdDir int, name string) (NSKey, bool) {
	fd, err := unix.Openat(fdDir, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return NSKey{}, false
	}
	defer unix.Close(fd)
	flag, err := unix.IoctlRetInt(fd, nsGetNSType)
	if err != nil {
		return NSKey{}, false
	}
	t, ok := cloneFlagTypes[flag]
	if !ok {
		return NSKey{}, false
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return NSKey{}, false
	}
	return NSKey{t, st.Ino}, true
}

// addFDHolders records the namespace descriptors each process holds open,
// adding namespaces that no process is a member of.
func (s *Scanner) addFDHolders(procs []*Process, m map[NSKey]*Namespace) {
	for _, p := range procs {
		for _, f := range p.nsFDs {
			n := m[f.key]
			if n == nil {
				n = &Namespace{Type: f.key.Type, Inode: f.key.Inode}
				m[f.key] = n
			}
			n.FDs = append(n.FDs, FDRef{PID: p.PID, FD: f.fd})
		}
	}
}

// mountTables holds the nsfs bind mounts (ip netns add, Docker's
// /run/docker/netns) found in the mountinfo of each mount namespace, read
// once through the namespace's lowest pid.
type mountTables struct {
	pids  []int
	found [][]NSFSMount
}

// mountNamespaceHolders returns the lowest pid of each mount namespace of
// procs, which are sorted by pid.
func mountNamespaceHolders(procs []*Process) (pids []int, inodes []uint64) {
	seen := make(map[uint64]bool)
	for _, p := range procs {
		if ino := p.NS.Get(NSMnt); ino != 0 && !seen[ino] {
			seen[ino] = true
			pids = append(pids, p.PID)
			inodes = append(inodes, ino)
		}
	}
	return pids, inodes
}

// readMountTables reads the mount tables of the mount namespaces whose
// lowest pids and inodes are given, on the scanner's workers: a host with
// a few hundred mount namespaces has as many tables to read. A
// NamespaceCache may hand back a mount namespace's table from an earlier
// scan instead.
func (s *Scanner) readMountTables(root int, pids []int, mntIno []uint64) mountTables {
	nc, _ := s.cache.(NamespaceCache)
	found := make([][]NSFSMount, len(pids))
	cached := make([]bool, len(pids))
	if nc != nil {
		for i, ino := range mntIno {
			found[i], cached[i] = nc.NSFSMounts(ino)
		}
	}
	s.parallel(len(pids), root, func(r *procReader, i int) {
		if cached[i] {
			return
		}
		// Through the procfs root fd and the reader's buffer, as the
		// per-process files are: os.ReadFile would add an fstat and the
		// poller's registration to each of a few hundred tables.
		r.setPID(pids[i])
		if b, err := r.readFileWaiting(r.at("mountinfo")); err == nil { // else: exited since
			found[i] = parseNSFSMounts(b)
		}
	})
	if nc != nil {
		for i, ino := range mntIno {
			if !cached[i] {
				nc.StoreNSFSMounts(ino, found[i])
			}
		}
	}
	return mountTables{pids: pids, found: found}
}

// addMountHolders records the nsfs mounts of t on the namespaces they
// hold, adding namespaces no process is in. The same mount seen from
// several mount namespaces is recorded once.
func (s *Scanner) addMountHolders(snap *Snapshot, t mountTables) {
	added := false
	for i, mounts := range t.found {
		for _, m := range mounts {
			n := snap.byNS[m.Key]
			if n == nil {
				n = &Namespace{Type: m.Key.Type, Inode: m.Key.Inode}
				snap.byNS[m.Key] = n
				added = true
			}
			if !slices.Contains(n.Mounts, m.MountPoint) {
				n.Mounts = append(n.Mounts, m.MountPoint)
				if n.mountPath == "" {
					n.mountPath = filepath.Join(s.paths.Procfs, strconv.Itoa(t.pids[i]), "root", m.MountPoint)
				}
			}
		}
	}
	for _, n := range snap.byNS {
		sort.Strings(n.Mounts)
	}
	if added {
		snap.Namespaces = sortNamespaces(snap.byNS)
	}
}

// handlePath returns a path that opens namespace n: a member's ns link, an
// nsfs mount, or a holder's fd.
func (s *Scanner) handlePath(n *Namespace) string {
	switch {
	case len(n.PIDs) > 0:
		return filepath.Join(s.paths.Procfs, strconv.Itoa(n.PIDs[0]), "ns", string(n.Type))
	case n.mountPath != "":
		return n.mountPath
	case len(n.FDs) > 0:
		return filepath.Join(s.paths.Procfs, strconv.Itoa(n.FDs[0].PID), "fd", strconv.Itoa(n.FDs[0].FD))
	}
	return ""
}

// addRelations asks the kernel for each namespace's owning user namespace,
// its parent (pid and user namespaces), and for net namespaces the NETNSID
// the scanner's own network namespace assigned to it. A relation the kernel
// will not tell (the parent is outside our view: EPERM) stays zero.
func (s *Scanner) addRelations(snap *Snapshot) {
	var nl *netlink.Handle
	if h, err := netlink.NewHandle(unix.NETLINK_ROUTE); err == nil {
		nl = h
		defer nl.Close()
	}
	nc, _ := s.cache.(NamespaceCache)
	for _, n := range snap.Namespaces {
		if nc != nil {
			if old := nc.Namespace(NSKey{n.Type, n.Inode}); old != nil {
				n.Owner, n.Parent, n.NetNSID = old.Owner, old.Parent, old.NetNSID
				continue
			}
		}
		path := s.handlePath(n)
		if path == "" {
			continue
		}
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		n.Owner = relatedInode(fd, nsGetUserns)
		if n.Type == NSPID || n.Type == NSUser {
			n.Parent = relatedInode(fd, nsGetParent)
		}
		if n.Type == NSNet && nl != nil {
			if id, err := nl.GetNetNsIdByFd(fd); err == nil && id >= 0 {
				n.NetNSID = &id
			}
		}
		unix.Close(fd)
	}
}

// relatedInode runs an nsfs ioctl that returns a new namespace fd and
// returns that namespace's inode, or 0.
func relatedInode(fd int, req uint) uint64 {
	rfd, err := unix.IoctlRetInt(fd, req)
	if err != nil {
		return 0
	}
	defer unix.Close(rfd)
	var st unix.Stat_t
	if err := unix.Fstat(rfd, &st); err != nil {
		return 0
	}
	return st.Ino
}

// addInterfaces lists the links and addresses of each net namespace over a
// netlink socket made inside it (NewHandleAt switches one locked thread
// into the namespace for the socket's creation only).
func (s *Scanner) addInterfaces(snap *Snapshot) {
	for _, n := range snap.Namespaces {
		if n.Type != NSNet {
			continue
		}
		path := s.handlePath(n)
		if path == "" {
			continue
		}
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		n.Interfaces = interfacesOf(fd)
		unix.Close(fd)
	}
}

func interfacesOf(nsFD int) []Interface {
	h, err := netlink.NewHandleAt(netns.NsHandle(nsFD))
	if err != nil {
		return nil
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil
	}
	out := make([]Interface, 0, len(links))
	for _, l := range links {
		a := l.Attrs()
		ifc := Interface{Name: a.Name, Up: a.Flags&net.FlagUp != 0}
		if len(a.HardwareAddr) > 0 {
			ifc.MAC = a.HardwareAddr.String()
		}
		if addrs, err := h.AddrList(l, netlink.FAMILY_ALL); err == nil {
			for _, ad := range addrs {
				ifc.Addrs = append(ifc.Addrs, ad.IPNet.String())
			}
		}
		out = append(out, ifc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

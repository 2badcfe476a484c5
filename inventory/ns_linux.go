package inventory

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/vishvananda/netlink"
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

// addMountHolders reads the mountinfo of each mount namespace once, through
// its lowest pid, and records the nsfs bind mounts it finds (ip netns add,
// Docker's /run/docker/netns). The same mount seen from several mount
// namespaces is recorded once.
func (s *Scanner) addMountHolders(snap *Snapshot) {
	nc, _ := s.cache.(NamespaceCache)
	added := false
	for _, mnt := range snap.Namespaces {
		if mnt.Type != NSMnt || len(mnt.PIDs) == 0 {
			continue
		}
		pid := mnt.PIDs[0]
		mounts, ok := []NSFSMount(nil), false
		if nc != nil {
			mounts, ok = nc.NSFSMounts(mnt.Inode)
		}
		if !ok {
			b, err := os.ReadFile(filepath.Join(s.paths.Procfs, strconv.Itoa(pid), "mountinfo"))
			if err != nil {
				continue // exited since
			}
			mounts = parseNSFSMounts(b)
			if nc != nil {
				nc.StoreNSFSMounts(mnt.Inode, mounts)
			}
		}
		for _, mi := range mounts {
			t, ino, err := parseNSLink(mi.Root)
			if err != nil || t.Index() < 0 {
				continue
			}
			k := NSKey{t, ino}
			n := snap.byNS[k]
			if n == nil {
				n = &Namespace{Type: t, Inode: ino}
				snap.byNS[k] = n
				added = true
			}
			if !containsString(n.Mounts, mi.MountPoint) {
				n.Mounts = append(n.Mounts, mi.MountPoint)
				if n.mountPath == "" {
					n.mountPath = filepath.Join(s.paths.Procfs, strconv.Itoa(pid), "root", mi.MountPoint)
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

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

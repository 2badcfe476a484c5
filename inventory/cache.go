package inventory

// ProcessCache lets a long-running caller (the agent) hand a Scanner what
// an earlier scan read of a process, so a scan re-reads only what changed.
// The Scanner copies a returned Process before touching it, so snapshots
// that share cached processes stay independent.
//
// A cache decides what is safe to reuse; the Scanner trusts it. Namespaces
// joined with setns(2) or descriptors opened without an exec are invisible
// to both checks below, so a cache must re-read everything now and then.
type ProcessCache interface {
	// Unchanged returns the process an earlier scan read for pid if the
	// cache knows without reading /proc that it has not changed since (no
	// fork, exec or exit seen for it); the Scanner then reads nothing of
	// it. Otherwise nil.
	Unchanged(pid int) *Process
	// Match returns the process an earlier scan read for pid if it had the
	// same start time and comm, the Scanner having re-read only
	// /proc/<pid>/stat; PPID, State and Threads are refreshed from it.
	// Otherwise nil, and the process is read in full.
	Match(pid int, startTicks uint64, comm string) *Process
}

// NamespaceCache is implemented by a ProcessCache that also hands back the
// namespaces of an earlier scan. A namespace's owner and parent are fixed
// for its life; its NETNSID is assigned at most once in practice. So a
// namespace seen before keeps them, and the scan asks the kernel only
// about new ones (four syscalls or a netlink round trip each).
type NamespaceCache interface {
	// Namespace returns the namespace with key k as an earlier scan found
	// it, or nil to ask the kernel.
	Namespace(k NSKey) *Namespace
	// NSFSMounts returns the nsfs mounts of mount namespace mntIno as an
	// earlier scan read them, if they may be reused: mount tables change
	// without any process event, so a cache bounds their age itself.
	NSFSMounts(mntIno uint64) ([]NSFSMount, bool)
	// StoreNSFSMounts records what a scan read of mount namespace mntIno.
	//
	// NSFSMounts and StoreNSFSMounts are called from one goroutine, but
	// not Scan's own: the mount tables are read while Scan builds the
	// namespaces. Scan calls no other method of the cache meanwhile.
	StoreNSFSMounts(mntIno uint64, mounts []NSFSMount)
}

// PIDSource is implemented by a ProcessCache that can say which
// processes exist without the Scanner listing the procfs root: those of
// the last scan and those the proc connector saw appear or change since.
// Listing a few thousand pids costs getdents about 2 us each, a tenth of
// an agent's scrape when every process is reused.
type PIDSource interface {
	// PIDs returns the processes to read, sorted, and among them those
	// that may have exited since the last scan (a failed read of one of
	// these is not counted as vanished mid-scan). ok is false when the
	// cache cannot vouch for the list; the Scanner then lists /proc.
	PIDs() (pids []int, mayBeGone map[int]struct{}, ok bool)
}

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

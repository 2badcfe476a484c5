// Package containers names the containers on a host from the outside, the
// way `ps fxa` and `lsns` show them in the Docker tutorial, whichever
// runtime started them: Docker (dockerd → containerd → shim → runc),
// containerd under Kubernetes (CRI), CRI-O and podman (conmon), bare runc,
// and nsagent's own workloads.
//
// It owns nothing of the host model: it takes an inventory.Snapshot (the
// one scan of processes, namespaces and cgroups) and adds what a runtime
// knows — a role per process, a logical parent where re-parenting hides the
// real chain (shims and conmon re-parent to PID 1; runc exits once the
// container starts), and one Container per container with its id, name,
// runtime, limits as the kernel has them and as the runtime asked for them,
// namespaces, security posture and entrants.
//
// Runtime metadata is read from the host's files only (Docker's
// config.v2.json and hostconfig.json, OCI bundles' config.json, runc's
// state.json, conmon's arguments, nsagent's state), under roots given as
// values so a fixture tree can stand in for the host. No runtime API is
// called and nothing on the host is written.
package containers

import (
	"github.com/nsagent/nsagent/inventory"
)

// Role is what a process is to the container machinery of the host.
type Role string

// The roles. A process that is none of these is RoleHost.
const (
	RoleHost       Role = "host"
	RoleDockerd    Role = "dockerd"
	RoleContainerd Role = "containerd"
	// RoleShim is a containerd shim: containerd-shim-runc-v2 (one per
	// container, or per pod under Kubernetes) or a v1 containerd-shim.
	RoleShim Role = "shim"
	// RoleOCIRuntime is runc or crun, which live only while they create,
	// exec into or delete a container.
	RoleOCIRuntime Role = "oci-runtime"
	RoleConmon     Role = "conmon"
	RolePodman     Role = "podman"
	RoleCRIO       Role = "crio"
	RoleKubelet    Role = "kubelet"
	// RoleNsagent is nsagent itself (agent or launcher).
	RoleNsagent Role = "nsagent"
	// RoleInit is a container's first process.
	RoleInit Role = "container-init"
	// RoleContainer is any other process in a container's cgroup.
	RoleContainer Role = "container"
	// RoleEntrant is a process that entered a container from outside:
	// a `docker exec`/`runc exec` session (in the container's cgroup, but
	// started by the runtime rather than by the container), or an
	// `nsenter` (in some of its namespaces, outside its cgroup).
	RoleEntrant Role = "entrant"
)

// Runtime names what started a container.
type Runtime string

// The runtimes nsagent recognises.
const (
	RuntimeDocker     Runtime = "docker"
	RuntimeContainerd Runtime = "containerd"
	RuntimeCRIO       Runtime = "cri-o"
	RuntimePodman     Runtime = "podman"
	RuntimeRunc       Runtime = "runc"
	RuntimeCrun       Runtime = "crun"
	RuntimeNsagent    Runtime = "nsagent"
	// RuntimeUnknown is a container found by its cgroup alone.
	RuntimeUnknown Runtime = "unknown"
)

// Pod is the Kubernetes pod a container belongs to, from the CRI
// annotations of its OCI bundle.
type Pod struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid,omitempty"`
	// SandboxID is the id of the pod's sandbox (pause) container.
	SandboxID string `json:"sandbox_id,omitempty"`
}

// Limits are resource limits; nil fields are unlimited (or not set).
type Limits struct {
	MemoryBytes *uint64 `json:"memory_bytes"`
	// CPUQuotaMicros per CPUPeriodMicros is the CPU bandwidth limit.
	CPUQuotaMicros  *int64  `json:"cpu_quota_us"`
	CPUPeriodMicros uint64  `json:"cpu_period_us,omitempty"`
	Pids            *uint64 `json:"pids"`
}

// Security is a container's confinement as its init process has it.
type Security struct {
	// Seccomp is 0 (disabled), 1 (strict) or 2 (filter).
	Seccomp    int  `json:"seccomp"`
	NoNewPrivs bool `json:"no_new_privs"`
	// CapEff is the effective capability mask, in hex as /proc prints it.
	CapEff string `json:"cap_eff"`
	// Privileged is true when the runtime says so (docker --privileged) or
	// the init holds every capability the kernel has with no seccomp
	// filter.
	Privileged bool `json:"privileged"`
}

// Entrant is a process that entered a container from outside.
type Entrant struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	// Via is "exec" (started by the runtime into the container's cgroup
	// and namespaces) or "nsenter" (joined namespaces, outside the
	// container's cgroup).
	Via string `json:"via"`
	// Namespaces are the container namespaces the process shares.
	Namespaces []inventory.NSType `json:"namespaces"`
}

// Container is one running container as the host sees it.
type Container struct {
	// ID is the runtime's full container id.
	ID string `json:"id"`
	// Name is the runtime's name for it (docker name, Kubernetes
	// container name, podman name, nsagent workload name); the id when
	// the runtime has none (bare runc).
	Name    string  `json:"name"`
	Runtime Runtime `json:"runtime"`
	// RuntimeNamespace is containerd's namespace (moby, k8s.io).
	RuntimeNamespace string `json:"runtime_namespace,omitempty"`
	// Kind is "sandbox" for a Kubernetes pod's pause container.
	Kind  string `json:"kind,omitempty"`
	Image string `json:"image,omitempty"`
	Pod   *Pod   `json:"pod,omitempty"`
	// PID is the container's init process, in the host's pid namespace.
	PID int `json:"pid"`
	// ShimPID is the shim or conmon that supervises it (0 if none runs).
	ShimPID int `json:"shim_pid,omitempty"`
	// Bundle is the OCI bundle directory, when known.
	Bundle string `json:"bundle,omitempty"`
	// Processes are the pids in the container's cgroup, ascending.
	Processes    []int `json:"processes"`
	ProcessCount int   `json:"process_count"`
	// Cgroup is the container's cgroup path (memory hierarchy on v1).
	Cgroup           string  `json:"cgroup"`
	MemoryLimitBytes *uint64 `json:"memory_limit_bytes"`
	CPUQuotaMicros   *int64  `json:"cpu_quota_us"`
	CPUPeriodMicros  uint64  `json:"cpu_period_us,omitempty"`
	PidsLimit        *uint64 `json:"pids_limit"`
	// Requested are the limits the runtime's metadata says it asked for
	// (nil when it has none to say).
	Requested *Limits `json:"requested,omitempty"`
	// Namespaces are the init's namespaces, type → inode.
	Namespaces map[inventory.NSType]uint64 `json:"namespaces"`
	// SharedWithHost are the namespace types the container did not
	// unshare from the host.
	SharedWithHost []inventory.NSType `json:"shared_with_host"`
	Security       Security           `json:"security"`
	Entrants       []Entrant          `json:"entrants"`
	// Sources name the metadata the container was described from
	// ("cgroup", "runc-state", "docker", "oci-bundle", "shim", "conmon",
	// "nsagent-state").
	Sources []string `json:"sources"`
}

// Finding is something that looks wrong.
type Finding struct {
	// Kind is one of "orphan-shim", "namespace-without-process",
	// "limit-mismatch", "stale-runtime-state".
	Kind        string `json:"kind"`
	PID         int    `json:"pid,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	Message     string `json:"message"`
}

// Result is what Discover found.
type Result struct {
	// Containers are sorted by runtime, then name, then id.
	Containers []*Container `json:"containers"`
	// Roles holds the role of every process that is not RoleHost.
	Roles map[int]Role `json:"roles"`
	// ContainerOf maps a process in or entered into a container to the
	// container's id.
	ContainerOf map[int]string `json:"container_of"`
	// LogicalParents maps a process to its logical parent where that
	// differs from its real one (a shim to its containerd, conmon to
	// CRI-O). 0 means the logical parent has exited (runc).
	LogicalParents map[int]int `json:"logical_parents"`
	Findings       []Finding   `json:"findings"`
	// Errors are metadata that could not be read; the containers are
	// still listed from what could.
	Errors []string `json:"errors,omitempty"`
}

// Role returns the role of pid.
func (r *Result) Role(pid int) Role {
	if role, ok := r.Roles[pid]; ok {
		return role
	}
	return RoleHost
}

// LogicalParent returns pid's logical parent, given its real one.
func (r *Result) LogicalParent(pid, ppid int) int {
	if lp, ok := r.LogicalParents[pid]; ok {
		return lp
	}
	return ppid
}

// Container returns the container with the given id, or nil.
func (r *Result) Container(id string) *Container {
	for _, c := range r.Containers {
		if c.ID == id {
			return c
		}
	}
	return nil
}

package containers

import (
	"path"
	"strings"

	"github.com/nsagent/nsagent/inventory"
)

// classify tells a process's runtime role from its command alone. Container
// roles (init, container, entrant) are given later, once containers are
// known. It is called for every process of a scan, so it only looks at
// strings already in memory.
func classify(p *inventory.Process) Role {
	if p.Kernel {
		return RoleHost
	}
	name := p.Comm
	if len(p.Cmdline) > 0 {
		name = path.Base(p.Cmdline[0])
	}
	switch {
	case name == "dockerd":
		return RoleDockerd
	case name == "containerd":
		return RoleContainerd
	case strings.HasPrefix(name, "containerd-shim"):
		return RoleShim
	case name == "runc" || name == "crun" || strings.HasPrefix(p.Comm, "runc:["):
		return RoleOCIRuntime
	case name == "conmon":
		return RoleConmon
	case name == "podman":
		return RolePodman
	case name == "crio":
		return RoleCRIO
	case name == "kubelet":
		return RoleKubelet
	case name == "nsagent":
		return RoleNsagent
	}
	return RoleHost
}

// shimArgs are what a containerd shim's command line says about its
// container.
type shimArgs struct {
	Namespace   string // containerd namespace: moby, k8s.io
	ID          string // v2: the container (or pod sandbox) id
	Address     string // containerd's socket
	Workdir     string // v1: the bundle's work directory
	RuntimeRoot string // v1: runc's state root
}

// parseShimArgs reads the flags of containerd-shim-runc-v2
// (-namespace NS -id ID -address SOCK) and of v1 containerd-shim
// (-namespace NS -workdir DIR -address SOCK -runtime-root DIR ID-less, the
// id being the workdir's base name).
func parseShimArgs(argv []string) shimArgs {
	var a shimArgs
	for i := 1; i < len(argv); i++ {
		flag, val, hasVal := strings.Cut(strings.TrimLeft(argv[i], "-"), "=")
		if !strings.HasPrefix(argv[i], "-") {
			continue
		}
		if !hasVal {
			if i+1 >= len(argv) {
				break
			}
			val = argv[i+1]
		}
		used := true
		switch flag {
		case "namespace":
			a.Namespace = val
		case "id":
			a.ID = val
		case "address":
			a.Address = val
		case "workdir":
			a.Workdir = val
		case "runtime-root":
			a.RuntimeRoot = val
		default:
			used = false
		}
		if used && !hasVal {
			i++
		}
	}
	if a.ID == "" && a.Workdir != "" {
		a.ID = path.Base(a.Workdir)
	}
	return a
}

// conmonArgs are what conmon's command line says about its container.
type conmonArgs struct {
	ID      string // -c / --cid
	Name    string // -n / --name
	Bundle  string // -b / --bundle
	Runtime string // -r / --runtime: the OCI runtime binary
}

// parseConmonArgs reads conmon's flags. Both podman and CRI-O start conmon
// with the container id, name and bundle on its command line.
func parseConmonArgs(argv []string) conmonArgs {
	var a conmonArgs
	for i := 1; i < len(argv); i++ {
		arg := argv[i]
		if !strings.HasPrefix(arg, "-") {
			continue
		}
		flag, val, hasVal := strings.Cut(arg, "=")
		if !hasVal {
			if i+1 >= len(argv) {
				break
			}
			val = argv[i+1]
		}
		var dst *string
		switch flag {
		case "-c", "--cid":
			dst = &a.ID
		case "-n", "--name":
			dst = &a.Name
		case "-b", "--bundle":
			dst = &a.Bundle
		case "-r", "--runtime":
			dst = &a.Runtime
		}
		if dst != nil {
			*dst = val
			if !hasVal {
				i++
			}
		}
	}
	return a
}

// cgroupMatch is a container found in a cgroup path.
type cgroupMatch struct {
	Runtime Runtime
	ID      string
	// Cgroup is the container's cgroup: the path up to the element that
	// names it, so processes in sub-cgroups map to the same container.
	Cgroup string
	// Conmon is true for conmon's own scope (libpod-conmon-<id>.scope,
	// crio-conmon-<id>.scope): the supervisor, not the container.
	Conmon bool
	// PodUID is the Kubernetes pod uid from a kubepods path.
	PodUID string
}

// matchCgroup finds a container in a cgroup path, innermost first (so a
// container nested in another is named by its own cgroup). It knows:
//
//	/docker/<id>                                      docker, cgroupfs driver
//	/system.slice/docker-<id>.scope                   docker, systemd driver
//	/kubepods…/pod<uid>…/cri-containerd-<id>.scope    containerd CRI, systemd
//	/kubepods/<qos>/pod<uid>/<id>                     any CRI, cgroupfs driver
//	…/crio-<id>.scope, …/crio-conmon-<id>.scope       CRI-O
//	…/libpod-<id>.scope, …/libpod-conmon-<id>.scope   podman
//	/nsagent/<name>                                   nsagent workloads
func matchCgroup(cg string) (cgroupMatch, bool) {
	if cg == "" || cg == "/" {
		return cgroupMatch{}, false
	}
	if rest, ok := strings.CutPrefix(cg, "/nsagent/"); ok && rest != "" {
		id, _, _ := strings.Cut(rest, "/")
		return cgroupMatch{Runtime: RuntimeNsagent, ID: id, Cgroup: "/nsagent/" + id}, true
	}
	end := len(cg)
	for end > 0 {
		start := strings.LastIndexByte(cg[:end], '/')
		if start < 0 {
			break
		}
		elem := cg[start+1 : end]
		if m, ok := matchElem(elem, cg[:start]); ok {
			m.Cgroup = cg[:end]
			m.PodUID = podUID(cg[:start])
			return m, true
		}
		end = start
	}
	return cgroupMatch{}, false
}

// matchElem matches one path element; parent is the path above it.
func matchElem(elem, parent string) (cgroupMatch, bool) {
	scoped := func(prefix string) (string, bool) {
		s, ok := strings.CutPrefix(elem, prefix)
		if !ok {
			return "", false
		}
		s = strings.TrimSuffix(s, ".scope")
		return s, isHexID(s)
	}
	if id, ok := scoped("docker-"); ok {
		return cgroupMatch{Runtime: RuntimeDocker, ID: id}, true
	}
	if id, ok := scoped("cri-containerd-"); ok {
		return cgroupMatch{Runtime: RuntimeContainerd, ID: id}, true
	}
	if id, ok := scoped("crio-conmon-"); ok {
		return cgroupMatch{Runtime: RuntimeCRIO, ID: id, Conmon: true}, true
	}
	if id, ok := scoped("crio-"); ok {
		return cgroupMatch{Runtime: RuntimeCRIO, ID: id}, true
	}
	if id, ok := scoped("libpod-conmon-"); ok {
		return cgroupMatch{Runtime: RuntimePodman, ID: id, Conmon: true}, true
	}
	if id, ok := scoped("libpod-"); ok {
		return cgroupMatch{Runtime: RuntimePodman, ID: id}, true
	}
	if isHexID(elem) {
		rt := RuntimeUnknown
		if path.Base(parent) == "docker" {
			rt = RuntimeDocker
		}
		return cgroupMatch{Runtime: rt, ID: elem}, true
	}
	return cgroupMatch{}, false
}

// podUID finds the pod uid in a kubepods path: a "pod<uid>" element
// (cgroupfs driver) or "kubepods-<qos>-pod<uid_with_underscores>.slice"
// (systemd driver).
func podUID(p string) string {
	if !strings.Contains(p, "kubepods") {
		return ""
	}
	for _, elem := range strings.Split(p, "/") {
		elem = strings.TrimSuffix(elem, ".slice")
		i := strings.LastIndex(elem, "pod")
		if i < 0 || (i > 0 && elem[i-1] != '-') {
			continue
		}
		uid := elem[i+3:]
		if len(uid) >= 32 {
			return strings.ReplaceAll(uid, "_", "-")
		}
	}
	return ""
}

// isHexID reports whether s is a 64-digit lower-case hex id, the form
// Docker, containerd, CRI-O and podman all use.
func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

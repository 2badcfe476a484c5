package launcher

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
)

// NSMode says whether a workload gets a new namespace of a kind or shares
// the host's.
type NSMode string

// Namespace modes: a fresh namespace (the default) or the host's.
const (
	NSNew  NSMode = "new"
	NSHost NSMode = "host"
)

// Namespaces lists the namespace kinds a workload can have of its own and
// how each is set. User is "new" only with --userns.
type Namespaces struct {
	PID    NSMode `json:"pid"`
	Mount  NSMode `json:"mnt"`
	UTS    NSMode `json:"uts"`
	IPC    NSMode `json:"ipc"`
	Net    NSMode `json:"net"`
	Cgroup NSMode `json:"cgroup"`
	User   NSMode `json:"user"`
}

// DefaultNamespaces is every kind new except the user namespace.
var DefaultNamespaces = Namespaces{PID: NSNew, Mount: NSNew, UTS: NSNew, IPC: NSNew, Net: NSNew, Cgroup: NSNew, User: NSHost}

// IDMap maps a range of IDs inside the workload's user namespace to the
// host (a line of /proc/PID/uid_map).
type IDMap struct {
	ContainerID int `json:"container_id"`
	HostID      int `json:"host_id"`
	Size        int `json:"size"`
}

// Limits are the workload's cgroup limits; zero means unset.
type Limits struct {
	// Memory is the memory limit in bytes.
	Memory int64 `json:"memory,omitempty"`
	// MemorySwap is memory plus swap in bytes; -1 is unlimited, 0 is
	// docker's default of twice Memory.
	MemorySwap int64 `json:"memory_swap,omitempty"`
	// CPUs is the CPU bandwidth in CPUs (0.5 is half of one).
	CPUs float64 `json:"cpus,omitempty"`
	// Pids caps the number of tasks.
	Pids int64 `json:"pids,omitempty"`
}

// Mount is a bind mount of a host path into the workload (-v).
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// Config is everything a launch needs, as plain data: it is what the
// launcher hands the init over its inherited fd, and what the state file
// records. Validate checks it before anything is created on the host.
type Config struct {
	Name   string `json:"name,omitempty"`
	Rootfs string `json:"rootfs"`
	// Layers, when set, are an image's unpacked layers (top first): the
	// init mounts them as a copy-on-write overlay whose upper lives in
	// the workload's state directory (layerfs.OverlayRoot), and Rootfs is
	// then only the top layer's path.
	Layers     []string   `json:"layers,omitempty"`
	Args       []string   `json:"args"`
	Env        []string   `json:"env,omitempty"`
	Cwd        string     `json:"cwd,omitempty"`
	UID        int        `json:"uid"`
	GID        int        `json:"gid"`
	Hostname   string     `json:"hostname,omitempty"`
	ReadOnly   bool       `json:"read_only,omitempty"`
	Mounts     []Mount    `json:"mounts,omitempty"`
	Namespaces Namespaces `json:"namespaces"`
	UIDMap     []IDMap    `json:"uid_map,omitempty"`
	GIDMap     []IDMap    `json:"gid_map,omitempty"`
	Limits     Limits     `json:"limits"`
	// Network names the network setup: bridge, none, host or ns:NAME
	// (see network.go); NetOptions are the bridge's choices.
	Network    string     `json:"network"`
	NetOptions NetOptions `json:"net_options,omitzero"`
	// TTY gives the workload a new pty as its stdio.
	TTY bool `json:"tty,omitempty"`
	// Seccomp is "default" (Docker's profile; the default when empty),
	// "unconfined" or the path of a profile in Docker's JSON format.
	Seccomp string `json:"seccomp,omitempty"`
	// CapAdd and CapDrop adjust Docker's default capability set.
	CapAdd  []string `json:"cap_add,omitempty"`
	CapDrop []string `json:"cap_drop,omitempty"`
	// Privileged opts out of all confinement: every capability, no
	// seccomp filter, no masked paths, no no_new_privs.
	Privileged bool `json:"privileged,omitempty"`
	// NewPrivileges leaves no_new_privs off (it is on by default).
	NewPrivileges bool `json:"new_privileges,omitempty"`
	// Detach, AutoRemove are the -d and --rm lifecycle choices.
	Detach     bool `json:"detach,omitempty"`
	AutoRemove bool `json:"auto_remove,omitempty"`
}

// DefaultPath is the PATH a workload gets when -e does not set one.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ParseSize parses docker's size syntax (4M, 512m, 1g, plain bytes) as
// binary units, the way `docker run --memory` does.
func ParseSize(s string) (int64, error) {
	v, err := units.RAMInBytes(s)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q (want bytes or a number with b, k, m or g)", s)
	}
	if v <= 0 {
		return 0, fmt.Errorf("invalid size %q: must be positive", s)
	}
	return v, nil
}

// ParseMemorySwap parses --memory-swap: a size, or -1 for unlimited.
func ParseMemorySwap(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	return ParseSize(s)
}

// ParseVolume parses -v HOST:CTR[:ro|rw].
func ParseVolume(s string) (Mount, error) {
	parts := strings.Split(s, ":")
	var m Mount
	switch len(parts) {
	case 3:
		switch parts[2] {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return m, fmt.Errorf("invalid volume %q: option %q (want ro or rw)", s, parts[2])
		}
		fallthrough
	case 2:
		m.Source, m.Target = parts[0], parts[1]
	default:
		return m, fmt.Errorf("invalid volume %q (want HOST:CONTAINER[:ro])", s)
	}
	if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) {
		return m, fmt.Errorf("invalid volume %q: both paths must be absolute", s)
	}
	return m, nil
}

// ParseUser parses --user UID[:GID] (numeric; the workload's /etc/passwd
// is not consulted, so a name never resolves against the host's).
func ParseUser(s string) (uid, gid int, err error) {
	u, g, hasGID := strings.Cut(s, ":")
	uid, err = strconv.Atoi(u)
	if err != nil || uid < 0 {
		return 0, 0, fmt.Errorf("invalid user %q (want numeric UID[:GID])", s)
	}
	gid = 0
	if hasGID {
		gid, err = strconv.Atoi(g)
		if err != nil || gid < 0 {
			return 0, 0, fmt.Errorf("invalid user %q (want numeric UID[:GID])", s)
		}
	}
	return uid, gid, nil
}

// ParseNSMode parses --pid=host and its kin: "host" or "private"/"new".
func ParseNSMode(kind, s string) (NSMode, error) {
	switch s {
	case "host":
		return NSHost, nil
	case "", "private", "new":
		return NSNew, nil
	}
	return "", fmt.Errorf("invalid --%s %q (want host or private)", kind, s)
}

// check is one validation rule, in the manner of runc's
// libcontainer/configs/validate: small functions, run in order, the first
// failure returned.
type check func(c *Config) error

var checks = []check{
	checkArgs,
	checkRootfs,
	checkName,
	checkHostname,
	checkLimits,
	checkMounts,
	checkNamespaces,
	checkNetwork,
	checkEnv,
	checkSecurity,
}

// Validate checks c; the error is one line naming the problem.
func (c *Config) Validate() error {
	for _, f := range checks {
		if err := f(c); err != nil {
			return err
		}
	}
	return nil
}

func checkArgs(c *Config) error {
	if len(c.Args) == 0 || c.Args[0] == "" {
		return errors.New("no command given")
	}
	if c.Cwd != "" && !filepath.IsAbs(c.Cwd) {
		return fmt.Errorf("working directory %q is not absolute", c.Cwd)
	}
	return nil
}

func checkRootfs(c *Config) error {
	if c.Rootfs == "" {
		return errors.New("no root filesystem given")
	}
	if !filepath.IsAbs(c.Rootfs) {
		return fmt.Errorf("root filesystem %q is not an absolute path", c.Rootfs)
	}
	return nil
}

// validName is [a-zA-Z0-9][a-zA-Z0-9_.-]{0,max-1}, checked by hand: a
// regexp compiled at package init costs every re-exec of the init.
func validName(s string, max int, extra string) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i, r := range s {
		alnum := r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		if !alnum && (i == 0 || !strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}

func checkName(c *Config) error {
	if c.Name != "" && !validName(c.Name, 64, "_.-") {
		return fmt.Errorf("invalid name %q (want [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 64)", c.Name)
	}
	return nil
}

func checkHostname(c *Config) error {
	if c.Hostname != "" && !validName(c.Hostname, 63, ".-") {
		return fmt.Errorf("invalid hostname %q", c.Hostname)
	}
	if c.Hostname != "" && c.Namespaces.UTS == NSHost {
		return errors.New("--hostname needs a UTS namespace of its own (not --uts host)")
	}
	return nil
}

// minMemory is the smallest limit accepted. Below a page the kernel
// rounds down to nothing; the launcher keeps its init out of the budget,
// so unlike docker (6M) small limits are allowed.
const minMemory = 64 << 10

func checkLimits(c *Config) error {
	l := c.Limits
	if l.Memory < 0 || (l.Memory > 0 && l.Memory < minMemory) {
		return fmt.Errorf("memory limit %d bytes is below the minimum of %d", l.Memory, minMemory)
	}
	if l.MemorySwap != 0 {
		if l.Memory == 0 {
			return errors.New("--memory-swap needs --mem")
		}
		if l.MemorySwap > 0 && l.MemorySwap < l.Memory {
			return fmt.Errorf("--memory-swap %d is below --mem %d (it counts memory plus swap)", l.MemorySwap, l.Memory)
		}
	}
	if l.CPUs < 0 {
		return fmt.Errorf("invalid --cpus %g: must be positive", l.CPUs)
	}
	if l.CPUs > 0 && l.CPUs < 0.01 {
		return fmt.Errorf("invalid --cpus %g: below the minimum of 0.01", l.CPUs)
	}
	if l.Pids < 0 {
		return fmt.Errorf("invalid --pids %d: must be positive", l.Pids)
	}
	return nil
}

func checkMounts(c *Config) error {
	for _, m := range c.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) {
			return fmt.Errorf("volume %s:%s: paths must be absolute", m.Source, m.Target)
		}
		if filepath.Clean(m.Target) == "/" {
			return fmt.Errorf("volume %s: cannot mount over the root", m.Source)
		}
	}
	return nil
}

func checkNamespaces(c *Config) error {
	ns := c.Namespaces
	for _, m := range []NSMode{ns.PID, ns.Mount, ns.UTS, ns.IPC, ns.Net, ns.Cgroup, ns.User} {
		if m != NSNew && m != NSHost {
			return fmt.Errorf("invalid namespace mode %q", m)
		}
	}
	if ns.Mount != NSNew {
		return errors.New("the mount namespace cannot be shared with the host (the root filesystem lives in it)")
	}
	if ns.User == NSNew && (len(c.UIDMap) == 0 || len(c.GIDMap) == 0) {
		return errors.New("--userns needs uid and gid mappings")
	}
	return nil
}

func checkEnv(c *Config) error {
	for _, e := range c.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("invalid environment entry %q (want KEY=VALUE)", e)
		}
	}
	return nil
}

func checkSecurity(c *Config) error {
	if _, err := ResolveCaps(c.CapAdd, c.CapDrop, c.Privileged); err != nil {
		return err
	}
	switch c.Seccomp {
	case "", SeccompDefault, SeccompUnconfined:
	default:
		if !filepath.IsAbs(c.Seccomp) {
			return fmt.Errorf("--seccomp %q: want default, unconfined or an absolute path of a profile", c.Seccomp)
		}
	}
	return nil
}

// SeccompMode is the seccomp mode the workload gets: --privileged
// without an explicit profile is unconfined, as with docker.
func (c *Config) SeccompMode() string {
	switch {
	case c.Seccomp != "":
		return c.Seccomp
	case c.Privileged:
		return SeccompUnconfined
	}
	return SeccompDefault
}

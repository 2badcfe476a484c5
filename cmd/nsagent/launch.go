package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	flag "github.com/spf13/pflag"

	"github.com/nsagent/nsagent/launcher"
)

func init() {
	register(&command{name: "launch", summary: "run a workload in its own namespaces and cgroup", run: runLaunch})
	register(&command{name: "monitor", summary: "wait for a detached workload (internal)", run: runMonitor, hidden: true})
}

// launcherFlags adds the flags that say where nsagent keeps its state and
// cgroups; tests point them at their own.
func launcherFlags(fs *flag.FlagSet) *launcher.Launcher {
	l := &launcher.Launcher{
		Store:        launcher.Store{Dir: envOr("NSAGENT_STATE_DIR", "/run/nsagent")},
		CgroupRoot:   "/sys/fs/cgroup",
		CgroupParent: envOr("NSAGENT_CGROUP_PARENT", "/nsagent"),
		InitArgs:     []string{"init"},
		TeardownArgs: []string{"net-teardown"},
	}
	fs.StringVar(&l.Store.Dir, "state-dir", l.Store.Dir, "directory of workload state (env NSAGENT_STATE_DIR)")
	fs.StringVar(&l.CgroupParent, "cgroup-parent", l.CgroupParent, "absolute cgroup the workloads' cgroups go under (env NSAGENT_CGROUP_PARENT)")
	fs.StringVar(&l.CgroupRoot, "path.cgroupfs", l.CgroupRoot, "cgroupfs mountpoint")
	return l
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// launchError turns a launcher error into nsagent's exit status and
// one-line message.
func launchError(err error) error {
	if err == nil {
		return nil
	}
	return exitError{code: launcher.ExitCode(err), msg: err.Error()}
}

func runLaunch(args []string) error {
	fs := newFlagSet("launch", "[flags] ROOTFS|IMAGE [COMMAND [ARG...]]")
	fs.SetInterspersed(false)
	l := launcherFlags(fs)
	ic := addImageFlags(fs)
	name := fs.String("name", "", "name of the workload")
	detach := fs.BoolP("detach", "d", false, "run in the background; output goes to a log (nsagent logs)")
	rm := fs.Bool("rm", false, "remove the workload's state when it ends")
	fs.BoolP("interactive", "i", false, "keep stdin attached (it always is in the foreground)")
	tty := fs.BoolP("tty", "t", false, "give the workload a new pty")
	env := fs.StringArrayP("env", "e", nil, "set an environment variable (KEY=VALUE)")
	vols := fs.StringArrayP("volume", "v", nil, "bind mount HOST:CONTAINER[:ro]")
	workdir := fs.StringP("workdir", "w", "", "working directory in the workload")
	user := fs.StringP("user", "u", "", "UID[:GID] to run the command as")
	hostname := fs.String("hostname", "", "hostname of the workload")
	readOnly := fs.Bool("read-only", false, "mount the root filesystem read-only")
	mem := fs.StringP("mem", "m", "", "memory limit (4M, 512m, 1g, bytes)")
	fs.StringVar(mem, "memory", "", "alias of --mem")
	swap := fs.String("memory-swap", "", "memory plus swap limit (-1: unlimited; default twice --mem)")
	cpus := fs.Float64("cpus", 0, "CPU bandwidth in CPUs (0.5 is half a CPU)")
	pids := fs.Int64("pids", 0, "maximum number of tasks")
	fs.Int64Var(pids, "pids-limit", 0, "alias of --pids")
	pidNS := fs.String("pid", "", "pid namespace: host or private")
	netNS := fs.String("net", envOr("NSAGENT_NET", launcher.NetBridge), "network: bridge, none (own namespace, lo only), host, or ns:NAME (a namespace made by ip netns add) (env NSAGENT_NET)")
	fs.StringVar(netNS, "network", *netNS, "alias of --net")
	bridgeName := fs.String("bridge", envOr("NSAGENT_BRIDGE", launcher.DefaultBridge), "bridge of --net bridge, made on first use (env NSAGENT_BRIDGE)")
	subnet := fs.String("subnet", envOr("NSAGENT_SUBNET", launcher.DefaultSubnet), "IPv4 subnet of the bridge (env NSAGENT_SUBNET)")
	publish := fs.StringArrayP("publish", "p", nil, "publish a port: HOSTPORT:PORT[/tcp|udp]")
	utsNS := fs.String("uts", "", "UTS namespace: host or private")
	ipcNS := fs.String("ipc", "", "IPC namespace: host or private")
	cgNS := fs.String("cgroupns", "", "cgroup namespace: host or private")
	userns := fs.String("userns", "", "map root in the workload to host IDs HOSTID[:SIZE] (bare --userns: 100000:65536)")
	fs.Lookup("userns").NoOptDefVal = "100000:65536"
	seccomp := fs.String("seccomp", "", "seccomp: default (Docker's profile), unconfined, or a profile file in Docker's format")
	capAdd := fs.StringArray("cap-add", nil, "add a capability to Docker's default set (CHOWN, CAP_NET_ADMIN, ALL)")
	capDrop := fs.StringArray("cap-drop", nil, "drop a capability from Docker's default set (or ALL)")
	privileged := fs.Bool("privileged", false, "no confinement: every capability, no seccomp filter, no masked paths, no no_new_privs")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError{code: launcher.ExitLaunchError, msg: err.Error()}
	}
	if fs.NArg() < 1 {
		return exitError{code: launcher.ExitLaunchError, msg: "need ROOTFS or IMAGE and COMMAND (nsagent launch [flags] ROOTFS|IMAGE [COMMAND [ARG...]])"}
	}
	cfg := &launcher.Config{
		Name: *name, Args: fs.Args()[1:], Env: *env, Cwd: *workdir, Hostname: *hostname,
		ReadOnly: *readOnly, Namespaces: launcher.DefaultNamespaces, TTY: *tty,
		Detach: *detach, AutoRemove: *rm,
		CapAdd: *capAdd, CapDrop: *capDrop, Privileged: *privileged,
	}
	bad := func(err error) error { return exitError{code: launcher.ExitLaunchError, msg: err.Error()} }
	rootfs, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		return bad(err)
	}
	cfg.Rootfs = rootfs
	if *seccomp != "" && *seccomp != launcher.SeccompDefault && *seccomp != launcher.SeccompUnconfined {
		if *seccomp, err = filepath.Abs(*seccomp); err != nil {
			return bad(err)
		}
	}
	cfg.Seccomp = *seccomp
	if err := imageRootfs(cfg, fs.Arg(0), ic, *user != ""); err != nil {
		return bad(err)
	}
	for _, v := range *vols {
		m, err := launcher.ParseVolume(v)
		if err != nil {
			return bad(err)
		}
		cfg.Mounts = append(cfg.Mounts, m)
	}
	if *user != "" {
		if cfg.UID, cfg.GID, err = launcher.ParseUser(*user); err != nil {
			return bad(err)
		}
	}
	if *mem != "" {
		if cfg.Limits.Memory, err = launcher.ParseSize(*mem); err != nil {
			return bad(fmt.Errorf("--mem: %w", err))
		}
	}
	if *swap != "" {
		if cfg.Limits.MemorySwap, err = launcher.ParseMemorySwap(*swap); err != nil {
			return bad(fmt.Errorf("--memory-swap: %w", err))
		}
	}
	cfg.Limits.CPUs, cfg.Limits.Pids = *cpus, *pids
	for _, ns := range []struct {
		kind string
		val  string
		dst  *launcher.NSMode
	}{
		{"pid", *pidNS, &cfg.Namespaces.PID}, {"uts", *utsNS, &cfg.Namespaces.UTS},
		{"ipc", *ipcNS, &cfg.Namespaces.IPC}, {"cgroupns", *cgNS, &cfg.Namespaces.Cgroup},
	} {
		if *ns.dst, err = launcher.ParseNSMode(ns.kind, ns.val); err != nil {
			return bad(err)
		}
	}
	cfg.Network = *netNS
	if *netNS == launcher.NetBridge {
		cfg.NetOptions = launcher.NetOptions{Bridge: *bridgeName, Subnet: *subnet}
	}
	for _, p := range *publish {
		port, err := launcher.ParsePort(p)
		if err != nil {
			return bad(err)
		}
		cfg.NetOptions.Ports = append(cfg.NetOptions.Ports, port)
	}
	if *netNS == "host" {
		cfg.Namespaces.Net = launcher.NSHost
	}
	if *userns != "" {
		hostID, size, err := parseUserns(*userns)
		if err != nil {
			return bad(err)
		}
		cfg.Namespaces.User = launcher.NSNew
		cfg.UIDMap = []launcher.IDMap{{ContainerID: 0, HostID: hostID, Size: size}}
		cfg.GIDMap = cfg.UIDMap
	}
	if err := cfg.Validate(); err != nil {
		return bad(err)
	}
	if *detach {
		return launchDetached(l, cfg)
	}
	return launchForeground(l, cfg)
}

func parseUserns(s string) (hostID, size int, err error) {
	h, sz, hasSize := strings.Cut(s, ":")
	size = 65536
	hostID, err = strconv.Atoi(h)
	if err == nil && hasSize {
		size, err = strconv.Atoi(sz)
	}
	if err != nil || hostID <= 0 || size <= 0 {
		return 0, 0, fmt.Errorf("invalid --userns %q (want HOSTID[:SIZE], HOSTID above 0)", s)
	}
	return hostID, size, nil
}

// forwardedSignals are relayed from the launcher to the workload.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

func launchForeground(l *launcher.Launcher, cfg *launcher.Config) error {
	stdio := launcher.Stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	// Signals arriving during the launch wait in the channel and are
	// relayed once the workload runs.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwardedSignals...)
	// No signal.Stop: nsagent exits when this returns, and Stop waits for
	// the runtime's signal goroutine with Gosched in a loop, which on
	// this goroutine (locked to its thread for the init's parent-death
	// signal) hands the thread back and forth, about 1.7 ms per launch.
	w, err := l.Launch(cfg, stdio)
	if err != nil {
		return launchError(err)
	}
	defer installLaunchBinaryBeside()()
	var restore func()
	if w.Console != nil {
		defer w.Console.Close()
		restore = launcher.AttachPTY(w.Console, os.Stdin, os.Stdout)
	}
	go func() {
		for s := range sigs {
			_ = w.Signal(s)
		}
	}()
	es, err := w.Wait()
	if restore != nil {
		restore()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nsagent launch: clean up after %s: %v\n", w.State.Name, err)
	}
	if es.OOMKilled {
		fmt.Fprintf(os.Stderr, "nsagent launch: workload %s was OOM-killed (memory limit %d bytes)\n", w.State.Name, cfg.Limits.Memory)
	}
	if es.Code != 0 {
		return exitError{code: es.Code}
	}
	return nil
}

// monitorRequest is what `launch -d` hands the monitor over fd 3.
type monitorRequest struct {
	Config       launcher.Config `json:"config"`
	StateDir     string          `json:"state_dir"`
	CgroupRoot   string          `json:"cgroup_root"`
	CgroupParent string          `json:"cgroup_parent"`
}

// monitorReport is what the monitor answers over fd 4 once the workload
// runs (or failed to start).
type monitorReport struct {
	ID   string `json:"id,omitempty"`
	Code int    `json:"code,omitempty"`
	Msg  string `json:"msg,omitempty"`
}

// launchDetached starts a monitor in a session of its own that launches
// the workload and stays to wait for it (recording its exit and removing
// its cgroup), then prints the workload's id.
func launchDetached(l *launcher.Launcher, cfg *launcher.Config) error {
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return launchError(err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		return launchError(err)
	}
	cmd := exec.Command("/proc/self/exe", "monitor")
	cmd.ExtraFiles = []*os.File{reqR, repW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return launchError(fmt.Errorf("start monitor: %w", err))
	}
	reqR.Close()
	repW.Close()
	go func() { _ = cmd.Wait() }()
	req := monitorRequest{Config: *cfg, StateDir: l.Store.Dir, CgroupRoot: l.CgroupRoot, CgroupParent: l.CgroupParent}
	if err := json.NewEncoder(reqW).Encode(req); err != nil {
		return launchError(fmt.Errorf("monitor: %w", err))
	}
	reqW.Close()
	var rep monitorReport
	if err := json.NewDecoder(repR).Decode(&rep); err != nil {
		return launchError(fmt.Errorf("monitor died: %w", err))
	}
	if rep.Msg != "" {
		return exitError{code: rep.Code, msg: rep.Msg}
	}
	fmt.Println(rep.ID)
	installLaunchBinary()
	return nil
}

func runMonitor(args []string) error {
	var req monitorRequest
	if err := json.NewDecoder(os.NewFile(3, "request")).Decode(&req); err != nil {
		return err
	}
	rep := os.NewFile(4, "report")
	l := &launcher.Launcher{
		Store: launcher.Store{Dir: req.StateDir}, CgroupRoot: req.CgroupRoot,
		CgroupParent: req.CgroupParent, InitArgs: []string{"init"}, TeardownArgs: []string{"net-teardown"},
	}
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	w, err := l.Launch(&req.Config, launcher.Stdio{})
	if err != nil {
		_ = json.NewEncoder(rep).Encode(monitorReport{Code: launcher.ExitCode(err), Msg: err.Error()})
		return exitError{code: launcher.ExitCode(err)}
	}
	_ = json.NewEncoder(rep).Encode(monitorReport{ID: w.State.ID})
	rep.Close()
	_, err = w.Wait()
	return err
}

//go:build !launchonly

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nsagent/nsagent/agent"
	"github.com/nsagent/nsagent/collector"
	"github.com/nsagent/nsagent/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// defaultListenAddress is loopback because the API carries command lines.
// The port: Prometheus's default-port allocation list filled 9100-9999
// long ago, so no unallocated port remains in the exporters' range; 19100
// is node_exporter's 9100 moved past it, below the kernel's ephemeral
// ports (32768+) so it is not handed out to outgoing connections.
const defaultListenAddress = "127.0.0.1:19100"

func init() {
	register(&command{name: "serve", summary: "run the agent: Prometheus metrics, /healthz and the JSON API over HTTP", run: runServe})
}

func runServe(args []string) error {
	fs := newFlagSet("serve", "[flags]")
	listen := fs.StringArray("web.listen-address", []string{defaultListenAddress}, "address to listen on (repeatable)")
	telemetry := fs.String("web.telemetry-path", "/metrics", "path under which to expose metrics")
	webConfig := fs.String("web.config.file", "", "exporter-toolkit web config file for TLS and basic auth")
	maxRequests := fs.Int("web.max-requests", 40, "maximum concurrent scrapes (0: no limit)")
	redact := fs.Bool("web.redact-cmdline", false, "leave command lines out of the web view and the JSON API (process names only)")
	refresh := fs.Duration("web.refresh", 5*time.Second, "how often the web view updates")
	noExporterMetrics := fs.Bool("web.disable-exporter-metrics", false, "leave out the go_* and process_* metrics of nsagent itself")
	disableDefaults := fs.Bool("collector.disable-defaults", false, "disable every collector not enabled explicitly")
	budget := fs.Int("collector.series-budget", 10000, "most series one collector may emit per scrape")
	cgDepth := fs.Int("collector.cgroups.depth", 1, "depth below the root to which cgroups without a container are reported")
	stateDir := fs.String("collector.workloads.state-dir", "/run/nsagent", "the launcher's state directory, as the host names it")
	minInterval := fs.Duration("scan.min-interval", 5*time.Second, "a scan younger than this is served again instead of a new one")
	fullInterval := fs.Duration("scan.full-interval", 5*time.Minute, "how often every process is re-read whatever the cache says (negative: always)")
	mountsInterval := fs.Duration("scan.mounts-interval", time.Minute, "how long a mount namespace's nsfs mounts are reused before its mountinfo is read again")
	procEvents := fs.Bool("scan.proc-events", true, "follow the proc connector's fork/exec/exit events to skip unchanged processes (needs CAP_NET_ADMIN)")
	logLevel := fs.String("log.level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log.format", "logfmt", "log format: logfmt or json")
	paths := pathFlags(fs)
	copts := containerFlags(fs)
	enabled := map[string]*bool{}
	disabled := map[string]*bool{}
	for _, c := range collector.Available() {
		def := "disabled"
		if c.DefaultEnabled {
			def = "enabled"
		}
		enabled[c.Name] = fs.Bool("collector."+c.Name, c.DefaultEnabled, c.Help+" (default "+def+")")
		disabled[c.Name] = fs.Bool("no-collector."+c.Name, false, "disable the "+c.Name+" collector")
		fs.Lookup("no-collector." + c.Name).Hidden = true
	}
	if err := checkCollectorFlags(args); err != nil {
		return err
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	log, err := newLogger(*logLevel, *logFormat)
	if err != nil {
		return err
	}
	for _, a := range *listen {
		if err := checkListenAddress(a); err != nil {
			return err
		}
	}
	if !strings.HasPrefix(*telemetry, "/") {
		return fmt.Errorf("--web.telemetry-path %q: must start with /", *telemetry)
	}
	if *webConfig != "" {
		if err := web.ValidateConfig(*webConfig); err != nil {
			return err
		}
	}
	var names []string
	for _, c := range collector.Available() {
		on := *enabled[c.Name]
		if *disableDefaults && !fs.Changed("collector."+c.Name) {
			on = false
		}
		if *disabled[c.Name] {
			on = false
		}
		if on {
			names = append(names, c.Name)
		}
	}
	if names == nil {
		names = []string{}
	}

	if os.Getenv("GOGC") == "" {
		// The agent's heap is mostly the last scan, replaced on each; a
		// lower GOGC keeps its RSS near that (measured at 10,000
		// processes) for little CPU, since an incremental scan allocates
		// little. GOGC in the environment still wins.
		debug.SetGCPercent(50)
	}
	a, err := agent.New(agent.Options{
		Paths: *paths, MinInterval: *minInterval, FullInterval: *fullInterval, MountsInterval: *mountsInterval,
		ProcEvents: *procEvents, Containers: *copts, Logger: log,
	})
	if err != nil {
		return err
	}
	defer a.Close()
	nc, err := collector.New(a, collector.Config{
		SeriesBudget: *budget, CgroupDepth: *cgDepth, StateDir: *stateDir, Logger: log,
	}, names)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(nc, buildInfo())
	if !*noExporterMetrics {
		reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	}
	h, err := web.NewHandler(web.Options{
		Agent: a, Gatherer: reg, TelemetryPath: *telemetry, Version: version,
		Collectors: nc.Names(), MaxRequests: *maxRequests, Logger: log,
		RedactCmdline: *redact, Refresh: *refresh,
	})
	if err != nil {
		return err
	}
	log.Info("starting nsagent", "version", version, "collectors", strings.Join(nc.Names(), ","))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return web.Serve(ctx, h, web.ServeConfig{ListenAddresses: *listen, WebConfigFile: *webConfig}, log)
}

// checkCollectorFlags names an unknown collector in --collector.X or
// --no-collector.X as such, rather than as an unknown flag.
func checkCollectorFlags(args []string) error {
	known := map[string]bool{"disable-defaults": true, "series-budget": true, "cgroups.depth": true, "workloads.state-dir": true}
	for _, c := range collector.Available() {
		known[c.Name] = true
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		name, ok := strings.CutPrefix(name, "collector.")
		if !ok {
			name, ok = strings.CutPrefix(name, "no-collector.")
		}
		if ok && !known[name] {
			var avail []string
			for _, c := range collector.Available() {
				avail = append(avail, c.Name)
			}
			return fmt.Errorf("unknown collector %q (available: %s)", name, strings.Join(avail, ", "))
		}
	}
	return nil
}

// checkListenAddress rejects an address net.Listen would, before the scan
// and the server start.
func checkListenAddress(a string) error {
	if strings.HasPrefix(a, "vsock://") {
		return nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("--web.listen-address %q: %w", a, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("--web.listen-address %q: invalid port %q", a, port)
	}
	if host != "" && net.ParseIP(host) == nil {
		if _, err := net.LookupHost(host); err != nil {
			return fmt.Errorf("--web.listen-address %q: %w", a, err)
		}
	}
	return nil
}

// newLogger builds the slog logger of --log.level and --log.format.
func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log.level %q: want debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: l}
	switch format {
	case "logfmt":
		return slog.New(slog.NewTextHandler(os.Stderr, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, o)), nil
	}
	return nil, fmt.Errorf("--log.format %q: want logfmt or json", format)
}

// buildInfo is nsagent_build_info, 1 with the version as labels.
func buildInfo() prometheus.Collector {
	rev := buildRevision()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "nsagent", Name: "build_info",
		Help:        "A metric with a constant '1' value labeled by version, revision and goversion from which nsagent was built.",
		ConstLabels: prometheus.Labels{"version": version, "revision": rev, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

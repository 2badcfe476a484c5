// Package web serves nsagent's agent over HTTP: Prometheus metrics at the
// telemetry path, /healthz, the JSON API under /api/v1/ and a landing
// page, with TLS and basic auth from an exporter-toolkit web config file.
//
// It renders what the agent's shared scan holds and reads nothing of the
// host itself.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/nsagent/nsagent/agent"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// Options configures the handler.
type Options struct {
	Agent *agent.Agent
	// Gatherer is what the telemetry path serves.
	Gatherer prometheus.Gatherer
	// TelemetryPath is where metrics are served (default /metrics).
	TelemetryPath string
	Version       string
	// Collectors are the enabled collectors, listed on the landing page.
	Collectors []string
	// MaxRequests bounds concurrent scrapes (0: unlimited).
	MaxRequests int
	Logger      *slog.Logger
	// RedactCmdline leaves command lines out of the API and the page.
	RedactCmdline bool
	// Refresh is how often the page updates (0: 5 s).
	Refresh time.Duration
}

// NewHandler returns the agent's HTTP handler.
func NewHandler(o Options) (http.Handler, error) {
	if o.TelemetryPath == "" {
		o.TelemetryPath = "/metrics"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+o.TelemetryPath, promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(o.Logger.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: o.MaxRequests,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	api := &api{agent: o.Agent, log: o.Logger, redact: o.RedactCmdline}
	api.register(mux)
	// The browser view is the landing page; exporter-toolkit's page of
	// links moves to /about. With the telemetry path at / neither fits.
	if o.TelemetryPath != "/" {
		mux.Handle("/", UIHandler(UIOptions{RedactCmdline: o.RedactCmdline, Refresh: o.Refresh}))
		desc := "Namespaces, processes, cgroups and containers of this host. Enabled collectors:"
		for _, c := range o.Collectors {
			desc += " " + c
		}
		lp, err := web.NewLandingPage(web.LandingConfig{
			Name:        "nsagent",
			Profiling:   "false",
			Description: desc,
			Version:     o.Version,
			Links: []web.LandingLinks{
				{Address: "/", Text: "Process tree, namespaces, containers, cgroups (web view)"},
				{Address: o.TelemetryPath, Text: "Metrics"},
				{Address: "/healthz", Text: "Health"},
				{Address: "/api/v1/namespaces", Text: "Namespaces (JSON, lsns -J schema)"},
				{Address: "/api/v1/processes", Text: "Process tree (JSON)"},
				{Address: "/api/v1/cgroups", Text: "Cgroups (JSON)"},
				{Address: "/api/v1/containers", Text: "Containers (JSON)"},
			},
		})
		if err != nil {
			return nil, fmt.Errorf("landing page: %w", err)
		}
		// The landing page answers its own route only ("/").
		mux.HandleFunc("GET /about", func(w http.ResponseWriter, r *http.Request) {
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/"
			lp.ServeHTTP(w, r2)
		})
	}
	return cleanPaths(mux), nil
}

// cleanPaths answers a path with dot segments or doubled slashes
// (/api/v1/../../etc/passwd) with 400 rather than ServeMux's redirect to
// the cleaned path: nothing here links to such a path, so it is a probe
// or a mistake, and a redirect would only hand it a second request.
func cleanPaths(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		want := path.Clean(p)
		if strings.HasSuffix(p, "/") && want != "/" {
			want += "/"
		}
		if p != want {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "400 Bad Request: path %.80q is not clean (dot segments or doubled slashes)\n", p)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ServeConfig is where and how to listen.
type ServeConfig struct {
	ListenAddresses []string
	// WebConfigFile is an exporter-toolkit web config (TLS, basic auth);
	// empty serves plain HTTP.
	WebConfigFile string
}

// ValidateConfig checks a web config file (its YAML, users and
// certificates) before anything listens.
func ValidateConfig(path string) error {
	if err := web.Validate(path); err != nil {
		// YAML errors come on several lines; the exit message is one.
		msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
		return fmt.Errorf("web config %s: %s", path, msg)
	}
	return nil
}

// Serve listens and serves h until ctx is done, then shuts down.
func Serve(ctx context.Context, h http.Handler, c ServeConfig, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &c.ListenAddresses, WebSystemdSocket: &systemd, WebConfigFile: &c.WebConfigFile}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, flags, log) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

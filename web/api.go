package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/nsagent/nsagent/agent"
	"github.com/nsagent/nsagent/inventory"
	"github.com/nsagent/nsagent/inventory/lsns"
)

// api serves the agent's scan as JSON, in the same documents the CLI
// prints for the same snapshot: /api/v1/namespaces is `nsagent lsns -J`
// (util-linux's schema), /api/v1/processes `nsagent tree -o json`,
// /api/v1/cgroups `nsagent cgroups -o json`, /api/v1/containers
// `nsagent containers -o json`.
type api struct {
	agent *agent.Agent
	log   *slog.Logger
}

func (a *api) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/namespaces", a.handle(namespacesDoc))
	mux.HandleFunc("GET /api/v1/processes", a.handle(processesDoc))
	mux.HandleFunc("GET /api/v1/cgroups", a.handle(cgroupsDoc))
	mux.HandleFunc("GET /api/v1/containers", a.handle(containersDoc))
}

// badRequest is an error in the request, answered with 400.
type badRequest struct{ error }

// handle runs one document builder on the shared scan.
func (a *api) handle(build func(s *agent.Scan, r *http.Request, procfs string) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := a.agent.Scan(r.Context())
		if err != nil {
			a.log.Warn("api scan failed", "path", r.URL.Path, "err", err)
			httpError(w, http.StatusServiceUnavailable, fmt.Errorf("scan: %w", err))
			return
		}
		b, err := build(s, r, a.agent.Paths().Procfs)
		if err != nil {
			code := http.StatusInternalServerError
			if _, ok := err.(badRequest); ok {
				code = http.StatusBadRequest
			}
			httpError(w, code, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}
}

func httpError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// namespacesDoc is lsns -J: the default columns and process tree, or with
// ?type=TYPE the namespaces of one type (net adds NETNSID and NSFS).
func namespacesDoc(s *agent.Scan, r *http.Request, procfs string) ([]byte, error) {
	var f lsns.Filter
	defaults := lsns.DefaultColumns
	if v := r.URL.Query().Get("type"); v != "" {
		t, ok := inventory.ParseNSType(v)
		if !ok {
			return nil, badRequest{fmt.Errorf("unknown namespace type: %s", v)}
		}
		f.Type = t
		if t == inventory.NSNet {
			defaults = lsns.DefaultNetColumns
		}
	}
	cols, err := lsns.ParseColumns("", defaults)
	if err != nil {
		return nil, err
	}
	rows, err := lsns.Build(s.Snapshot, f, lsns.TreeProcess, procfs)
	if err != nil {
		return nil, err
	}
	return lsns.JSON(rows, cols)
}

func processesDoc(s *agent.Scan, _ *http.Request, _ string) ([]byte, error) {
	doc := map[string]any{"processes": s.Snapshot.Tree()}
	if c := s.Containers; c != nil {
		doc["roles"], doc["container_of"], doc["logical_parents"] = c.Roles, c.ContainerOf, c.LogicalParents
	}
	return indentJSON(doc)
}

func cgroupsDoc(s *agent.Scan, _ *http.Request, _ string) ([]byte, error) {
	if s.Snapshot.Cgroups == nil {
		return nil, fmt.Errorf("the scan read no cgroup tree")
	}
	return indentJSON(s.Snapshot.Cgroups)
}

func containersDoc(s *agent.Scan, _ *http.Request, _ string) ([]byte, error) {
	c := s.Containers
	if c == nil {
		return nil, fmt.Errorf("discover containers: %w", s.ContainersErr)
	}
	return indentJSON(map[string]any{"containers": c.Containers, "findings": c.Findings, "errors": c.Errors})
}

// indentJSON encodes v as the CLI's -o json does.
func indentJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

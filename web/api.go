package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

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
	// redact leaves command lines out of every document (only process
	// names remain): --web.redact-cmdline.
	redact bool
}

func (a *api) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/namespaces", a.handle(a.namespacesDoc, "type", "output", "tree"))
	mux.HandleFunc("GET /api/v1/processes", a.handle(a.processesDoc))
	mux.HandleFunc("GET /api/v1/cgroups", a.handle(cgroupsDoc))
	mux.HandleFunc("GET /api/v1/containers", a.handle(a.containersDoc))
}

// checkQuery rejects a query string the document would misread: too long,
// malformed, with a parameter it does not take, given twice or empty. A
// typo (?tpye=net) answered with the unfiltered document would look like
// a filter that matched everything.
func checkQuery(r *http.Request, params []string) (int, error) {
	if len(r.URL.RawQuery) > MaxRawQuery {
		return http.StatusRequestURITooLong, fmt.Errorf("query string is %d bytes, the limit is %d", len(r.URL.RawQuery), MaxRawQuery)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return http.StatusBadRequest, fmt.Errorf("malformed query string: %w", err)
	}
	for k, v := range q {
		if !slices.Contains(params, k) {
			if len(params) == 0 {
				return http.StatusBadRequest, fmt.Errorf("unknown parameter %.40q (%s takes none)", k, r.URL.Path)
			}
			return http.StatusBadRequest, fmt.Errorf("unknown parameter %.40q (want %s)", k, strings.Join(params, ", "))
		}
		if len(v) > 1 {
			return http.StatusBadRequest, fmt.Errorf("parameter %q given %d times", k, len(v))
		}
		if v[0] == "" {
			return http.StatusBadRequest, fmt.Errorf("parameter %q is empty", k)
		}
	}
	return 0, nil
}

// badRequest is an error in the request, answered with 400.
type badRequest struct{ error }

// handle runs one document builder on the shared scan.
// Only the query parameters in params are accepted, checked before the
// scan so a bad request costs nothing.
func (a *api) handle(build func(s *agent.Scan, r *http.Request, procfs string) ([]byte, error), params ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if code, err := checkQuery(r, params); err != nil {
			httpError(w, code, err)
			return
		}
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

// namespacesDoc is lsns -J: the default columns and process tree, as
// `nsagent lsns -J` prints them. Query parameters narrow or widen it as the
// CLI's flags do: type=TYPE (-t; net adds NETNSID and NSFS), output=COLS or
// output=all (-o, --output-all), tree=process|parent|owner|none (-T, -l).
func (a *api) namespacesDoc(s *agent.Scan, r *http.Request, procfs string) ([]byte, error) {
	q := r.URL.Query() // checked by handle: known, single, non-empty
	var f lsns.Filter
	defaults := lsns.DefaultColumns
	if v := q.Get("type"); v != "" {
		t, ok := inventory.ParseNSType(v)
		if !ok {
			return nil, badRequest{fmt.Errorf("unknown namespace type: %.40q", v)}
		}
		f.Type = t
		if t == inventory.NSNet {
			defaults = lsns.DefaultNetColumns
		}
	}
	spec := q.Get("output")
	if spec == "all" {
		// Every column but IFACES: the agent's shared scan does not
		// list interfaces (a netlink socket per namespace per scan).
		var names []string
		for _, c := range lsns.Columns {
			if c.Name != "IFACES" {
				names = append(names, c.Name)
			}
		}
		spec = strings.Join(names, ",")
	} else if strings.Contains(strings.ToUpper(spec), "IFACES") {
		return nil, badRequest{fmt.Errorf("column IFACES is not served by the agent (nsagent lsns -o +IFACES lists them)")}
	}
	if len(spec) > 256 {
		return nil, badRequest{fmt.Errorf("output: %d bytes, at most 256", len(spec))}
	}
	cols, err := lsns.ParseColumns(spec, defaults)
	if err != nil {
		return nil, badRequest{err}
	}
	tree := lsns.TreeProcess
	switch v := q.Get("tree"); v {
	case "":
	case "none":
		tree = lsns.TreeNone
	default:
		if tree, err = lsns.ParseTree(v); err != nil {
			return nil, badRequest{err}
		}
	}
	rows, err := lsns.Build(s.Snapshot, f, tree, procfs)
	if err != nil {
		return nil, err
	}
	doc, err := lsns.JSON(rows, cols)
	if err != nil || !a.redact {
		return doc, err
	}
	return RedactLsnsJSON(doc, s.Snapshot)
}

func (a *api) processesDoc(s *agent.Scan, _ *http.Request, _ string) ([]byte, error) {
	tree := s.Snapshot.Tree()
	if a.redact {
		tree = RedactTree(tree)
	}
	doc := map[string]any{"processes": tree}
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

func (a *api) containersDoc(s *agent.Scan, _ *http.Request, _ string) ([]byte, error) {
	c := s.Containers
	if c == nil {
		return nil, fmt.Errorf("discover containers: %w", s.ContainersErr)
	}
	list := c.Containers
	if a.redact {
		list = RedactContainers(list, s.Snapshot)
	}
	return indentJSON(map[string]any{"containers": list, "findings": c.Findings, "errors": c.Errors})
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

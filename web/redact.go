package web

import (
	"encoding/json"
	"fmt"

	"github.com/nsagent/nsagent/inventory"
	"github.com/nsagent/nsagent/inventory/containers"
)

// Command lines carry secrets (passwords in arguments, tokens in URLs) as
// often as they carry markup. With --web.redact-cmdline the API must not
// send them at all, in any document: the page hiding them would not stop
// a reader of the JSON. These functions redact copies; the scan they come
// from is shared with the metrics and must stay whole.

// RedactTree returns a copy of a process tree whose processes have no
// command line. Process.Command then falls back to the name (comm), as it
// does for kernel threads.
func RedactTree(roots []*inventory.TreeNode) []*inventory.TreeNode {
	out := make([]*inventory.TreeNode, len(roots))
	for i, n := range roots {
		cp := *n
		p := *n.Process
		p.Cmdline = nil
		cp.Process = &p
		cp.Children = RedactTree(n.Children)
		out[i] = &cp
	}
	return out
}

// RedactLsnsJSON rewrites the "command" of every namespace of an lsns -J
// document (nested or not) to the name of the process it names, looked up
// in snap; a namespace whose process is unknown gets an empty command.
func RedactLsnsJSON(doc []byte, snap *inventory.Snapshot) ([]byte, error) {
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("redact lsns document: %w", err)
	}
	var walk func(v any)
	walk = func(v any) {
		list, _ := v.([]any)
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			if _, has := m["command"]; has {
				name := ""
				if pid, ok := m["pid"].(float64); ok {
					if p := snap.Process(int(pid)); p != nil {
						name = p.Comm
					}
				}
				m["command"] = name
			}
			walk(m["children"])
		}
	}
	walk(d["namespaces"])
	return json.Marshal(d)
}

// RedactContainers returns copies of cs whose entrants' commands are the
// entrants' names.
func RedactContainers(cs []*containers.Container, snap *inventory.Snapshot) []*containers.Container {
	out := make([]*containers.Container, len(cs))
	for i, c := range cs {
		cp := *c
		cp.Entrants = make([]containers.Entrant, len(c.Entrants))
		for j, e := range c.Entrants {
			e.Command = ""
			if p := snap.Process(e.PID); p != nil {
				e.Command = p.Comm
			}
			cp.Entrants[j] = e
		}
		out[i] = &cp
	}
	return out
}

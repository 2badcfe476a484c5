// Command gen writes nsagent's Grafana dashboards (package dashboards) as
// JSON files, the form Grafana's file provisioning loads:
//
//	go run ./dashboards/gen [-out dashboards]
//
// `make dashboards` runs it; `make dashboards-check` runs it and fails if
// the committed files differ, so the JSON in the repository is always
// what the Go code says.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nsagent/nsagent/dashboards"
)

func main() {
	out := flag.String("out", "dashboards", "directory to write the dashboards to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	files, err := dashboards.All()
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := dashboards.Marshal(f.Dashboard)
		if err != nil {
			return fmt.Errorf("marshal %s: %w", f.Name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), b, 0o644); err != nil {
			return err
		}
		fmt.Println(filepath.Join(dir, f.Name))
	}
	return nil
}

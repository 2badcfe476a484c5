package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"github.com/nsagent/nsagent/launcher/nsenter"
)

// version and revision are set by the Makefile with -ldflags "-X
// main.version=... -X main.revision=...". The revision is also taken from
// the Go toolchain's VCS stamp when the build has one: builds with
// GOFLAGS=-buildvcs=false (as on this project's CI machines) or from a
// source tarball have none.
var (
	version  = "dev"
	revision = ""
)

// buildRevision is the commit nsagent was built from, or "unknown".
func buildRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	if revision != "" {
		return revision
	}
	return "unknown"
}

func init() {
	register(&command{name: "version", summary: "print nsagent's version", run: func([]string) error {
		fmt.Printf("nsagent %s (revision %s, %s)\n", version, buildRevision(), runtime.Version())
		if dir, name := nsenter.LaunchBinary(); name != "" {
			state := "not installed yet: the first launch as root writes it"
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				state = "installed"
			}
			fmt.Printf("launch binary: %s (%s)\n", filepath.Join(dir, name), state)
		}
		return nil
	}})
}

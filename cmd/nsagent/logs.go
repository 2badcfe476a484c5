//go:build !launchonly

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

func init() {
	register(&command{name: "logs", summary: "print a detached workload's output", run: runLogs})
}

func runLogs(args []string) error {
	fs := newFlagSet("logs", "[-f] NAME")
	l := launcherFlags(fs)
	follow := fs.BoolP("follow", "f", false, "keep printing output until the workload ends")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("need one workload NAME")
	}
	st, err := l.Store.Get(fs.Arg(0))
	if err != nil {
		return err
	}
	if st.LogPath == "" {
		return fmt.Errorf("workload %s was not detached: its output went to its terminal", st.Name)
	}
	f, err := os.Open(st.LogPath)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		if _, err := io.Copy(os.Stdout, f); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if !*follow || !st.Alive() {
			_, err := io.Copy(os.Stdout, f)
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nsagent/nsagent/launcher/nsenter"
)

// launchBinaryGz is the launch-only build of this binary, gzipped: set in
// a `make build` binary (launchbin_embed.go), nil in any other build and
// in the launch-only build itself. Package nsenter's fastlaunch.go says
// what it is for.
var launchBinaryGz []byte

const launchBinaryPrefix = "nsagent-launch-"

// installLaunchBinary writes the launch-only binary where the constructor
// looks for it, when this build has one and it is not there yet (a
// launch reaches Go in this binary when it is the build's first, when it
// is from an image source or an image the launch binary handed back, and
// when the execve failed, which installing again would not change). It
// runs once
// a workload has started, so a launch refused leaves nothing. A failure
// leaves launches as they were, in this binary, and is not the
// workload's concern: it is not reported.
func installLaunchBinary() {
	dir, name := nsenter.LaunchBinary()
	if len(launchBinaryGz) == 0 || name == "" || os.Getenv(nsenter.EnvLaunchBinary) == "0" || os.Geteuid() != 0 {
		return
	}
	if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
		return
	}
	_ = writeLaunchBinary(dir, name, launchBinaryGz)
}

// installLaunchBinaryBeside installs the launch binary while the
// workload runs, and returns a function that waits for it to be done.
func installLaunchBinaryBeside() (wait func()) {
	if len(launchBinaryGz) == 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		installLaunchBinary()
	}()
	return func() { <-done }
}

// writeLaunchBinary unpacks gz into dir/name (mode 0555) by rename, after
// checking that its SHA-256 starts with the digest the name carries, and
// removes the launch binaries of other builds from dir. dir is made 0700
// and must be root's and writable by nobody else: the constructor will
// not execute from any other.
func writeLaunchBinary(dir, name string, gz []byte) error {
	want, ok := strings.CutPrefix(name, launchBinaryPrefix)
	if !ok || want == "" {
		return fmt.Errorf("launch binary %q: not named %sDIGEST", name, launchBinaryPrefix)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s: not a directory owned by root and writable by root alone", dir)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return fmt.Errorf("launch binary: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+name+"-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), zr)
	if err == nil {
		err = f.Chmod(0o555)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("launch binary: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.HasPrefix(got, want) {
		return fmt.Errorf("launch binary: digest %s does not match its name %s", got[:len(want)], name)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	pruneLaunchBinaries(dir, name)
	return nil
}

// pruneLaunchBinaries removes the launch binaries of other builds (a
// process started from one keeps its copy until it exits) and temporary
// files an interrupted install left more than an hour ago.
func pruneLaunchBinaries(dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		switch {
		case n == keep:
		case strings.HasPrefix(n, launchBinaryPrefix):
			_ = os.Remove(filepath.Join(dir, n))
		case strings.HasPrefix(n, ".tmp-"+launchBinaryPrefix):
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				_ = os.Remove(filepath.Join(dir, n))
			}
		}
	}
}

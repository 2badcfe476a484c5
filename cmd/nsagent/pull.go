//go:build !launchonly

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsagent/nsagent/images"
)

func init() {
	register(&command{name: "pull", summary: "fetch an image into the cache and lay out its root filesystem", run: runPull})
}

func (c *imageCLI) store() *images.Store { return &images.Store{Dir: c.dir} }

func (c *imageCLI) pullOptions() images.PullOptions {
	o := images.PullOptions{Platform: c.platform}
	if isTerminal(os.Stderr) {
		o.Progress = os.Stderr
	}
	return o
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// pullError gives an interrupted pull the status of a SIGINT death.
func pullError(err error) error {
	if errors.Is(err, context.Canceled) {
		return exitError{code: 130, msg: err.Error()}
	}
	return err
}

func runPull(args []string) error {
	fs := newFlagSet("pull", "[flags] IMAGE [DIR]\n\nIMAGE is a registry reference (alpine:3.20, 127.0.0.1:5000/x:tag),\ndocker-archive:FILE[:REF] (docker save), oci:DIR[:REF] (an OCI layout)\nor a root filesystem tarball (docker export). With DIR, the image's\nroot filesystem is laid out there (DIR must not exist or be empty).")
	ic := addImageFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return usagef("need IMAGE and optionally DIR (nsagent pull [flags] IMAGE [DIR])")
	}
	src, err := images.ParseSource(fs.Arg(0), ic.insecure)
	if err != nil {
		return err
	}
	var dir string
	if fs.NArg() == 2 {
		if dir, err = filepath.Abs(fs.Arg(1)); err != nil {
			return err
		}
		// Refused before anything is fetched, as Export would refuse it.
		if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
			return fmt.Errorf("target %s is not empty", dir)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st := ic.store()
	im, err := st.Pull(ctx, src, ic.pullOptions())
	if err != nil {
		return pullError(err)
	}
	if dir != "" {
		if err := st.Export(ctx, im, dir); err != nil {
			return pullError(fmt.Errorf("lay out %s in %s: %w", src, dir, err))
		}
	}
	fmt.Fprintf(stdout, "%s: %s\n", src, im.Digest)
	return nil
}

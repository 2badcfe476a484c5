//go:build !launchonly

package main

import (
	"errors"
	"fmt"

	"github.com/nsagent/nsagent/images"
)

func init() {
	register(&command{name: "rmi", summary: "remove images from the cache", run: runRmi})
}

func runRmi(args []string) error {
	fs := newFlagSet("rmi", "[flags] IMAGE...")
	ic := addImageFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("need at least one IMAGE (a reference or an image id)")
	}
	var errs []error
	for _, arg := range fs.Args() {
		src, err := images.ParseSource(arg, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rep, err := ic.store().Remove(src)
		for _, r := range rep.Untagged {
			fmt.Fprintln(stdout, "Untagged:", r)
		}
		for _, d := range rep.Deleted {
			fmt.Fprintln(stdout, "Deleted:", d)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

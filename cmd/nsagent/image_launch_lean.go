//go:build launchonly

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/nsagent/nsagent/images/cache"
	"github.com/nsagent/nsagent/launcher"
	"github.com/nsagent/nsagent/launcher/nsenter"
)

// fullBinary is the binary the constructor came from, taken out of the
// environment the monitor and the bridge's teardown inherit.
var fullBinary string

func init() {
	fullBinary = os.Getenv(nsenter.EnvFullBinary)
	os.Unsetenv(nsenter.EnvFullBinary)
}

// imageRootfs in the launch binary (see launcher/nsenter's fastlaunch.go),
// which does not link the registry client: it launches a cached image
// by a name a launch or pull resolved before (package cache), and hands
// any other image launch back to the binary the constructor came from,
// with the same arguments (that binary resolves the name, pulling it if
// need be, and records it for next time).
func imageRootfs(cfg *launcher.Config, arg string, ic *imageCLI, userSet bool) error {
	if !namesImage(arg) {
		return nil
	}
	im, err := cache.LookupName(ic.dir, arg)
	if err == nil {
		return useImage(cfg, im, userSet)
	}
	if !errors.Is(err, cache.ErrNotCached) {
		return err
	}
	if fullBinary == "" {
		return fmt.Errorf("%s: %w, and this launch binary was not started by nsagent to pull it", arg, err)
	}
	os.Setenv(nsenter.EnvLaunchBinary, "0")
	return syscall.Exec(fullBinary, os.Args, os.Environ())
}

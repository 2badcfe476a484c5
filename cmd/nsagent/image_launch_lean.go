//go:build launchonly

package main

import (
	"fmt"
	"os"
	"syscall"

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
// which does not link the registry client: an image launch goes back to
// the binary the constructor came from, with the same arguments. The
// constructor sends image launches there itself; this is for a flag
// spelling it misread.
func imageRootfs(cfg *launcher.Config, arg string, ic *imageCLI, userSet bool) error {
	if !namesImage(arg) {
		return nil
	}
	if fullBinary == "" {
		return fmt.Errorf("%s names an image, and this launch binary was not started by nsagent", arg)
	}
	os.Setenv(nsenter.EnvLaunchBinary, "0")
	return syscall.Exec(fullBinary, os.Args, os.Environ())
}

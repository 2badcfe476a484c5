//go:build !launchonly

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nsagent/nsagent/images"
	"github.com/nsagent/nsagent/launcher"
)

// imageRootfs is launch's hook for images: when arg names an image rather
// than a directory or tarball on disk, it resolves it in the cache
// (pulling it if missing), points cfg at the image's layers (the init
// mounts them as a copy-on-write overlay) and applies the image's config
// the way `docker run` does: Env under -e, WorkingDir unless -w,
// Entrypoint before the command (the image's Cmd when none is given),
// User unless -u.
func imageRootfs(cfg *launcher.Config, arg string, ic *imageCLI, userSet bool) error {
	if !namesImage(arg) {
		return nil // a path, even a missing one: the launcher's own business
	}
	src, err := images.ParseSource(arg, ic.insecure)
	if err != nil {
		return fmt.Errorf("root filesystem %s: no such directory or file, nor %w", arg, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	im, err := ic.store().Resolve(ctx, src, ic.pullOptions())
	if err != nil {
		return err
	}
	return useImage(cfg, im, userSet)
}

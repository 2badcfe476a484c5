//go:build !launchonly

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
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
	cfg.Layers = im.LayerDirs()
	cfg.Rootfs = cfg.Layers[0]
	return applyImageConfig(cfg, im.Config, userSet, im.LookupUser)
}

// applyImageConfig applies an image's config to cfg as `docker run` does.
// lookupUser turns the image's USER into ids (from the image's files).
func applyImageConfig(cfg *launcher.Config, c images.ImageConfig, userSet bool, lookupUser func(string) (int, int, error)) error {
	cfg.Env = mergeEnv(c.Env, cfg.Env)
	if cfg.Cwd == "" {
		cfg.Cwd = c.WorkingDir
	}
	cmd := cfg.Args
	if len(cmd) == 0 {
		cmd = c.Cmd
	}
	cfg.Args = append(append([]string(nil), c.Entrypoint...), cmd...)
	if !userSet && c.User != "" {
		var err error
		if cfg.UID, cfg.GID, err = lookupUser(c.User); err != nil {
			return err
		}
	}
	return nil
}

// mergeEnv is base with each KEY=VALUE of over replacing base's KEY.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	for _, e := range over {
		k, _, _ := strings.Cut(e, "=")
		replaced := false
		for i, b := range out {
			if bk, _, _ := strings.Cut(b, "="); bk == k {
				out[i], replaced = e, true
			}
		}
		if !replaced {
			out = append(out, e)
		}
	}
	return out
}

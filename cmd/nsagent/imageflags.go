package main

import (
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/nsagent/nsagent/images/cache"
	"github.com/nsagent/nsagent/launcher"
	flag "github.com/spf13/pflag"
)

// defaultImageDir is images.DefaultDir, which the launch binary (without
// package images) has from package cache.
const defaultImageDir = cache.DefaultDir

// imageCLI holds the flags every image command shares.
type imageCLI struct {
	dir      string
	platform string
	insecure bool
}

// addImageFlags adds --image-dir, --platform and --insecure to fs.
func addImageFlags(fs *flag.FlagSet) *imageCLI {
	c := &imageCLI{dir: envOr("NSAGENT_IMAGE_DIR", defaultImageDir)}
	fs.StringVar(&c.dir, "image-dir", c.dir, "image cache directory (env NSAGENT_IMAGE_DIR)")
	fs.StringVar(&c.platform, "platform", "", "os/arch to pick from a multi-platform image (default linux and this machine's arch)")
	fs.BoolVar(&c.insecure, "insecure", false, "reach the named registry over plain HTTP (loopback and private addresses always are)")
	return c
}

// namesImage reports whether launch's ROOTFS|IMAGE operand names an image
// (a registry reference, or an explicit docker-archive:, oci: or tarball:
// source) rather than a path, even a missing one.
func namesImage(arg string) bool {
	for _, p := range []string{"docker-archive:", "oci:", "tarball:"} {
		if strings.HasPrefix(arg, p) {
			return true
		}
	}
	_, err := os.Stat(arg)
	return errors.Is(err, fs.ErrNotExist) && !strings.HasPrefix(arg, "/") && !strings.HasPrefix(arg, ".")
}

// useImage points cfg at a cached image's layers (the init mounts them as
// a copy-on-write overlay) and applies its config.
func useImage(cfg *launcher.Config, im *cache.Image, userSet bool) error {
	cfg.Layers = im.LayerDirs()
	cfg.Rootfs = cfg.Layers[0]
	return applyImageConfig(cfg, im.Config, userSet, im.LookupUser)
}

// applyImageConfig applies an image's config to cfg as `docker run` does.
// lookupUser turns the image's USER into ids (from the image's files).
func applyImageConfig(cfg *launcher.Config, c cache.ImageConfig, userSet bool, lookupUser func(string) (int, int, error)) error {
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

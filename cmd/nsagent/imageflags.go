package main

import (
	"errors"
	"io/fs"
	"os"
	"strings"

	flag "github.com/spf13/pflag"
)

// defaultImageDir is images.DefaultDir (a test checks): the launch binary
// parses the image flags too, and does not link package images.
const defaultImageDir = "/var/lib/nsagent/images"

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
// source) rather than a path, even a missing one. launcher/nsenter's
// fastlaunch.c applies the same rule before Go starts.
func namesImage(arg string) bool {
	for _, p := range []string{"docker-archive:", "oci:", "tarball:"} {
		if strings.HasPrefix(arg, p) {
			return true
		}
	}
	_, err := os.Stat(arg)
	return errors.Is(err, fs.ErrNotExist) && !strings.HasPrefix(arg, "/") && !strings.HasPrefix(arg, ".")
}

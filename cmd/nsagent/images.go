//go:build !launchonly

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nsagent/nsagent/images"
)

func init() {
	register(&command{name: "images", summary: "list the images in the cache", run: runImages})
}

// imageJSON is one image as `nsagent images -o json` prints it.
type imageJSON struct {
	Refs         []string           `json:"refs"`
	Digest       string             `json:"digest"`
	ConfigDigest string             `json:"config_digest"`
	Platform     string             `json:"platform"`
	Layers       []images.Layer     `json:"layers"`
	Size         int64              `json:"size"`
	Pulled       time.Time          `json:"pulled"`
	Config       images.ImageConfig `json:"config"`
}

func runImages(args []string) error {
	fs := newFlagSet("images", "[flags]")
	ic := addImageFlags(fs)
	out := fs.StringP("output", "o", "table", "output format: table or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := outputFormat(*out, "table", "json"); err != nil {
		return err
	}
	all, err := ic.store().List()
	if err != nil {
		return err
	}
	if *out == "json" {
		list := make([]imageJSON, 0, len(all))
		for _, im := range all {
			list = append(list, imageJSON{Refs: im.Refs, Digest: im.Digest, ConfigDigest: im.ConfigDigest,
				Platform: im.Platform, Layers: im.Layers, Size: im.Size(), Pulled: im.Pulled, Config: im.Config})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REFERENCE\tIMAGE ID\tPLATFORM\tLAYERS\tSIZE\tPULLED")
	for _, im := range all {
		refs := im.Refs
		if len(refs) == 0 {
			refs = []string{"<none>"}
		}
		for _, r := range refs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r, imageID(im.ConfigDigest), im.Platform,
				len(im.Layers), humanSize(im.Size()), im.Pulled.Local().Format(time.DateTime))
		}
	}
	return tw.Flush()
}

func imageID(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

func humanSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fGB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fMB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fkB", float64(n)/1e3)
	}
	return fmt.Sprintf("%dB", n)
}

package layerfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// OverlayRoot prepares the copy-on-write root of one workload: an overlay
// of layers (top first, as Image.LayerDirs gives them) with its upper and
// work directories in dir (the workload's own state directory), to be
// mounted at target, dir/rootfs. It makes the three directories and
// returns the target and the overlay mount's options; the workload's init
// mounts it inside the workload's mount namespace, so the mount dies with
// the workload and the upper goes with its state; the cached layers are
// only ever read.
func OverlayRoot(layers []string, dir string) (target, options string, err error) {
	if len(layers) == 0 {
		return "", "", errors.New("image has no layers")
	}
	for _, l := range layers {
		if strings.ContainsAny(l, ":,") {
			return "", "", fmt.Errorf("layer directory %s holds ':' or ',', which overlayfs options cannot carry", l)
		}
	}
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "rootfs")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", "", fmt.Errorf("overlay root: %w", err)
		}
	}
	// volatile: no syncfs of the upper's filesystem when the workload's
	// namespace unmounts it (an ext4 state directory shared with other
	// writers made that the slowest step); the upper is never reused
	// after a crash, it goes with the workload.
	opts := "lowerdir=" + strings.Join(layers, ":") + ",upperdir=" + upper + ",workdir=" + work + ",volatile"
	if len(opts) >= os.Getpagesize() {
		return "", "", fmt.Errorf("image has too many layers (%d) for one overlay mount", len(layers))
	}
	return merged, opts, nil
}

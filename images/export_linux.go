package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nsagent/nsagent/images/layerfs"
)

// Export lays out im's root filesystem in dir, as `docker export | tar
// -x` would: each cached layer, bottom first, is streamed as a tar (its
// overlayfs whiteouts turned back into OCI ones) through Extract, which
// applies the whiteouts and writes nothing outside dir. dir must not
// exist or be empty; on failure what was written is removed.
func (s *Store) Export(ctx context.Context, im *Image, dir string) (err error) {
	created := false
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		created = true
	case err != nil:
		return fmt.Errorf("target %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("target %s is not empty", dir)
	}
	defer func() {
		if err == nil {
			return
		}
		if created {
			os.RemoveAll(dir)
			return
		}
		if ents, rerr := os.ReadDir(dir); rerr == nil {
			for _, e := range ents {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}()
	for i, l := range im.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(layerfs.WriteTar(pw, s.layerDir(l.DiffID))) }()
		err := layerfs.Extract(pr, dir, layerfs.ExtractOptions{Whiteouts: layerfs.WhiteoutApply})
		pr.CloseWithError(errors.New("extraction stopped"))
		if err != nil {
			return fmt.Errorf("layer %d (%s): %w", i+1, l.DiffID, err)
		}
	}
	return nil
}

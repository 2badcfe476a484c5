// Package atomicfile writes a file so that its readers see the old content
// or the new, never part of either: the state records of the launcher, the
// network store and the image store, and the compiled seccomp cache.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path through a temporary file in the same directory
// (".NAME-*", mode 0600) renamed over it. On error the temporary file is
// removed and path is as it was.
func Write(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

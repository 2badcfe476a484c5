package images

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// SourceKind is where an image comes from.
type SourceKind string

// The sources nsagent reads images from.
const (
	// Registry is a registry reference (alpine, ghcr.io/x/y:1, r/x@sha256:…).
	Registry SourceKind = "registry"
	// DockerArchive is a `docker save` tarball: docker-archive:FILE[:REF].
	DockerArchive SourceKind = "docker-archive"
	// OCILayout is an OCI image layout directory: oci:DIR[:REF].
	OCILayout SourceKind = "oci"
	// Tarball is a flat root filesystem tarball (`docker export`):
	// tarball:FILE, or an existing file given as it is.
	Tarball SourceKind = "tarball"
)

// Source is a parsed image reference.
type Source struct {
	Kind SourceKind
	// Ref is the registry reference (Registry only).
	Ref name.Reference
	// Path is the archive, layout or tarball (absolute), and Tag the
	// image picked in an archive or layout holding several.
	Path, Tag string
	// Given is a registry reference as it was written (alpine): the
	// cache records what it resolved to (names.json, package cache).
	Given string
}

// ErrBadReference is wrapped by every error of ParseSource.
var ErrBadReference = errors.New("invalid image reference")

// ParseSource parses an image reference. Registry short names follow
// Docker Hub's rules (alpine is docker.io/library/alpine:latest).
// Plain-HTTP registries other than loopback and private addresses need
// insecure, which the user sets for the registries they name.
func ParseSource(s string, insecure bool) (Source, error) {
	if s == "" {
		return Source{}, fmt.Errorf("%w: empty", ErrBadReference)
	}
	for _, k := range []SourceKind{DockerArchive, OCILayout, Tarball} {
		rest, ok := strings.CutPrefix(s, string(k)+":")
		if !ok {
			continue
		}
		p, tag := rest, ""
		// DIR:REF as skopeo writes it; a path may hold ':' itself, so
		// the split is taken only when the part before it exists.
		if i := strings.LastIndexByte(rest, ':'); i > 0 && k != Tarball {
			if _, err := os.Stat(rest[:i]); err == nil {
				p, tag = rest[:i], rest[i+1:]
			}
		}
		if p == "" {
			return Source{}, fmt.Errorf("%w: %q names no path", ErrBadReference, s)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return Source{}, fmt.Errorf("%w: %q: %v", ErrBadReference, s, err)
		}
		return Source{Kind: k, Path: abs, Tag: tag}, nil
	}
	// An existing file is a tarball (docker save or docker export: the
	// archive's manifest.json tells which, see Pull).
	if fi, err := os.Stat(s); err == nil && fi.Mode().IsRegular() {
		abs, _ := filepath.Abs(s)
		return Source{Kind: Tarball, Path: abs}, nil
	}
	// A reference never starts with "/" or ".": that is a path whose file
	// is missing, and must not turn into a request to Docker Hub.
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") {
		return Source{}, fmt.Errorf("%w: %q is a path, and there is no such file", ErrBadReference, s)
	}
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(s, opts...)
	if err != nil {
		return Source{}, fmt.Errorf("%w: %q", ErrBadReference, s)
	}
	return Source{Kind: Registry, Ref: ref, Given: s}, nil
}

// String is the source's canonical name, the key of the cache's
// reference table: docker.io/library/alpine:latest, oci:/abs/dir:tag.
func (s Source) String() string {
	switch s.Kind {
	case Registry:
		return canonicalRef(s.Ref)
	case Tarball:
		return "tarball:" + s.Path
	}
	if s.Tag != "" {
		return string(s.Kind) + ":" + s.Path + ":" + s.Tag
	}
	return string(s.Kind) + ":" + s.Path
}

// canonicalRef writes a reference in full with Docker Hub spelled
// docker.io, as `docker images` users know it.
func canonicalRef(r name.Reference) string {
	reg := r.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	repo := reg + "/" + r.Context().RepositoryStr()
	switch t := r.(type) {
	case name.Tag:
		return repo + ":" + t.TagStr()
	case name.Digest:
		return repo + "@" + t.DigestStr()
	}
	return r.String()
}

package images

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/nsagent/nsagent/images/cache"
	"github.com/nsagent/nsagent/images/layerfs"
)

// PullOptions tune Pull.
type PullOptions struct {
	// Platform is os/arch[/variant] picked from a multi-platform image;
	// empty is linux and the architecture nsagent was built for.
	Platform string
	// Progress, when set, gets a progress line redrawn in place (give it
	// a terminal only).
	Progress io.Writer
	// Keychain supplies registry credentials; nil is the user's Docker
	// config (~/.docker/config.json, $DOCKER_CONFIG).
	Keychain authn.Keychain
	// Transport carries registry requests; nil is go-containerregistry's
	// default.
	Transport http.RoundTripper
	// Jobs is how many layers are fetched and unpacked at once (default 3,
	// as dockerd does).
	Jobs int
}

// Pull fetches the image src names, verifies every blob against its
// digest, unpacks the layers the cache lacks and records the image under
// src's name. A layer already cached is neither downloaded nor unpacked.
// Nothing partial is left behind on failure or cancellation: a layer is
// unpacked in tmp/ and renamed into layers/ only once complete and
// verified, and the image is recorded only once all its layers are.
func (s *Store) Pull(ctx context.Context, src Source, o PullOptions) (*Image, error) {
	// With no other pull running, clear what a pull killed outright left.
	if unlock, err := s.lock(syscall.LOCK_EX | syscall.LOCK_NB); err == nil {
		_, _ = s.cleanTmp()
		unlock()
	}
	unlock, err := s.lock(syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var im *Image
	var fetch []layerFetch
	if src.Kind == Tarball && !isDockerArchive(src.Path) {
		im, fetch, err = s.planTarball(src)
	} else {
		im, fetch, err = s.planImage(ctx, src, o)
	}
	if err != nil {
		return nil, describe(src, err)
	}
	if err := s.fetchLayers(ctx, src, fetch, o); err != nil {
		return nil, describe(src, err)
	}
	for i, f := range fetch {
		if f.diffID != "" {
			im.Layers[f.index].DiffID = fetch[i].diffID
		}
	}
	im.Pulled = time.Now().UTC()
	im.CacheDir = s.Dir
	if err := s.saveImage(im); err != nil {
		return nil, fmt.Errorf("record image: %w", err)
	}
	if err := s.setRef(src.String(), im.Digest); err != nil {
		return nil, fmt.Errorf("record image: %w", err)
	}
	s.rememberName(src)
	return im, nil
}

// layerFetch is one layer to bring into the cache.
type layerFetch struct {
	index int
	open  func() (io.ReadCloser, error)
	// digest is what the blob must hash to ("" when the blob is the
	// uncompressed tar itself and diffID says it all); diffID is what the
	// uncompressed tar must hash to ("" when only known once read).
	digest, diffID string
	size           int64
	// compressed says the blob may be gzip or zstd (sniffed).
	compressed bool
}

func defaultPlatform() string { return "linux/" + runtime.GOARCH }

// planImage reads src's manifest and config (through
// go-containerregistry) and lists the layers the cache lacks.
func (s *Store) planImage(ctx context.Context, src Source, o PullOptions) (*Image, []layerFetch, error) {
	pstr := o.Platform
	if pstr == "" {
		pstr = defaultPlatform()
	}
	plat, err := v1.ParsePlatform(pstr)
	if err != nil {
		return nil, nil, fmt.Errorf("platform %q: %w", pstr, err)
	}
	img, err := openImage(ctx, src, *plat, o)
	if err != nil {
		return nil, nil, err
	}
	if src.Kind != DockerArchive && src.Kind != Tarball {
		// Known manifest, every layer cached: not even the config is
		// fetched again.
		d, err := img.Digest()
		if err != nil {
			return nil, nil, err
		}
		if im, err := s.loadImage(d.String()); err == nil && cache.Complete(im) {
			return im, nil, nil
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("image config: %w", err)
	}
	// A docker save archive has no manifest of its own (go-containerregistry
	// would compress every layer to make one): its config names it.
	digest := cfgName.String()
	if src.Kind != DockerArchive && src.Kind != Tarball {
		d, err := img.Digest()
		if err != nil {
			return nil, nil, err
		}
		digest = d.String()
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, err
	}
	if len(layers) != len(cf.RootFS.DiffIDs) {
		return nil, nil, fmt.Errorf("image config lists %d layers, its manifest %d", len(cf.RootFS.DiffIDs), len(layers))
	}
	im := &Image{
		Digest: digest, ConfigDigest: cfgName.String(),
		Platform: cf.OS + "/" + cf.Architecture,
		Config: ImageConfig{
			Env: cf.Config.Env, Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd,
			WorkingDir: cf.Config.WorkingDir, User: cf.Config.User,
		},
	}
	if cf.Variant != "" {
		im.Platform += "/" + cf.Variant
	}
	var fetch []layerFetch
	archive := src.Kind == DockerArchive || src.Kind == Tarball
	for i, l := range layers {
		diffID := cf.RootFS.DiffIDs[i].String()
		ly := Layer{DiffID: diffID, Digest: diffID}
		f := layerFetch{index: i, diffID: diffID}
		if archive {
			// Layers sit uncompressed in the archive.
			f.open = l.Uncompressed
		} else {
			d, err := l.Digest()
			if err != nil {
				return nil, nil, err
			}
			ly.Digest, f.digest, f.compressed, f.open = d.String(), d.String(), true, l.Compressed
			if ly.Size, err = l.Size(); err != nil {
				return nil, nil, err
			}
			f.size = ly.Size
		}
		im.Layers = append(im.Layers, ly)
		if _, err := os.Stat(s.layerDir(diffID)); err != nil {
			fetch = append(fetch, f)
		}
	}
	return im, fetch, nil
}

// openImage opens src's image for the platform with go-containerregistry.
func openImage(ctx context.Context, src Source, plat v1.Platform, o PullOptions) (v1.Image, error) {
	switch src.Kind {
	case Registry:
		kc := o.Keychain
		if kc == nil {
			kc = authn.DefaultKeychain
		}
		opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithPlatform(plat), remote.WithUserAgent("nsagent")}
		if o.Transport != nil {
			opts = append(opts, remote.WithTransport(o.Transport))
		}
		return remote.Image(src.Ref, opts...)
	case DockerArchive, Tarball:
		var tag *name.Tag
		if src.Tag != "" {
			t, err := name.NewTag(src.Tag)
			if err != nil {
				return nil, fmt.Errorf("%w: tag %q", ErrBadReference, src.Tag)
			}
			tag = &t
		}
		return tarball.ImageFromPath(src.Path, tag)
	case OCILayout:
		idx, err := layout.ImageIndexFromPath(src.Path)
		if err != nil {
			return nil, err
		}
		return pickFromIndex(idx, src.Tag, plat)
	}
	return nil, fmt.Errorf("unknown source kind %q", src.Kind)
}

// pickFromIndex picks from an OCI layout's index the image named tag
// (its org.opencontainers.image.ref.name annotation), or the only one,
// descending into nested indexes by platform.
func pickFromIndex(idx v1.ImageIndex, tag string, plat v1.Platform) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var cands []v1.Descriptor
	for _, d := range m.Manifests {
		ref := d.Annotations["org.opencontainers.image.ref.name"]
		if tag == "" || ref == tag || strings.HasSuffix(ref, ":"+tag) {
			cands = append(cands, d)
		}
	}
	if len(cands) > 1 {
		var match []v1.Descriptor
		for _, d := range cands {
			if d.Platform == nil || d.Platform.Satisfies(plat) {
				match = append(match, d)
			}
		}
		cands = match
	}
	switch {
	case len(cands) == 0 && tag != "":
		return nil, fmt.Errorf("no image %q in the layout", tag)
	case len(cands) == 0:
		return nil, fmt.Errorf("no image for %s in the layout", plat)
	case len(cands) > 1:
		return nil, errors.New("the layout holds several images: name one (oci:DIR:REF)")
	}
	d := cands[0]
	if d.MediaType.IsIndex() {
		sub, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, err
		}
		return pickFromIndex(sub, "", plat)
	}
	return idx.Image(d.Digest)
}

// isDockerArchive tells a `docker save` archive (manifest.json at its
// top) from a flat root filesystem tarball.
func isDockerArchive(p string) bool {
	_, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(p) })
	return err == nil
}

// planTarball makes a one-layer image of a flat root filesystem tarball,
// named by the file's digest.
func (s *Store) planTarball(src Source) (*Image, []layerFetch, error) {
	f, err := os.Open(src.Path)
	if err != nil {
		return nil, nil, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", src.Path, err)
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if im, err := s.loadImage(digest); err == nil && cache.Complete(im) {
		return im, nil, nil
	}
	im := &Image{Digest: digest, ConfigDigest: digest, Platform: defaultPlatform(), Layers: []Layer{{Digest: digest, Size: n}}}
	return im, []layerFetch{{
		index: 0, digest: digest, size: n, compressed: true,
		open: func() (io.ReadCloser, error) { return os.Open(src.Path) },
	}}, nil
}

// fetchLayers brings the layers into the cache, Jobs at a time: layers
// unpack into directories of their own, so they need no order.
func (s *Store) fetchLayers(ctx context.Context, src Source, fetch []layerFetch, o PullOptions) error {
	if len(fetch) == 0 {
		return nil
	}
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = 3
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	prog := newProgress(o.Progress, src.String(), fetch)
	defer prog.done()
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := range fetch {
		wg.Add(1)
		go func(f *layerFetch) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			if err := s.fetchLayer(ctx, f, prog); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}(&fetch[i])
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// fetchLayer streams one blob through its digest check, the
// decompressor, the diff id check and Extract into a directory under
// tmp/, and renames that into layers/ once both digests match.
func (s *Store) fetchLayer(ctx context.Context, f *layerFetch, prog *progress) (err error) {
	name := f.digest
	if name == "" {
		name = f.diffID
	}
	tmpRoot := filepath.Join(s.Dir, "tmp")
	if err := os.MkdirAll(tmpRoot, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(tmpRoot, "layer-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	rc, err := f.open()
	if err != nil {
		return fmt.Errorf("layer %s: %w", name, err)
	}
	defer rc.Close()
	blobHash := sha256.New()
	blob := io.TeeReader(&ctxReader{ctx: ctx, r: rc, n: prog.counter()}, blobHash)
	var tarStream io.Reader = blob
	br := bufio.NewReaderSize(blob, 64<<10)
	tarStream = br
	if f.compressed {
		magic, _ := br.Peek(4)
		switch {
		case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
			zr, err := gzip.NewReader(br)
			if err != nil {
				return fmt.Errorf("layer %s: %w", name, err)
			}
			defer zr.Close()
			tarStream = zr
		case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			zr, err := zstd.NewReader(br)
			if err != nil {
				return fmt.Errorf("layer %s: %w", name, err)
			}
			defer zr.Close()
			tarStream = zr
		}
	}
	diffHash := sha256.New()
	tr := io.TeeReader(tarStream, diffHash)
	xerr := layerfs.Extract(tr, tmp, layerfs.ExtractOptions{Whiteouts: layerfs.WhiteoutOverlay})
	if xerr == nil {
		// The tar's end-of-archive padding counts towards the diff id.
		_, xerr = io.Copy(io.Discard, tr)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// A corrupted blob usually breaks the decompressor or the tar first:
	// read it to its end so the error names the cause, the digest.
	_, _ = io.Copy(io.Discard, br)
	if f.digest != "" {
		if got := sum(blobHash); got != f.digest {
			return fmt.Errorf("layer %s: digest mismatch: the blob read hashes to %s", f.digest, got)
		}
	}
	if xerr != nil {
		return fmt.Errorf("layer %s: %w", name, xerr)
	}
	got := sum(diffHash)
	if f.diffID != "" && got != f.diffID {
		return fmt.Errorf("layer %s: uncompressed content hashes to %s, not the config's diff id %s", name, got, f.diffID)
	}
	f.diffID = got
	dst := s.layerDir(got)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		// Someone else unpacked the same layer meanwhile: theirs stays.
		if fi, serr := os.Stat(dst); serr == nil && fi.IsDir() {
			os.RemoveAll(tmp)
			return nil
		}
		return fmt.Errorf("layer %s: %w", name, err)
	}
	return nil
}

func sum(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// ctxReader stops a read at cancellation (a local archive has no
// request to cancel) and counts bytes for the progress line.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	n   func(int)
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n(n)
	return n, err
}

// describe turns what go-containerregistry and the network return into
// one line naming the problem.
func describe(src Source, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("pull of %s interrupted: %w", src, context.Canceled)
	}
	where := src.String()
	var terr *transport.Error
	if errors.As(err, &terr) {
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
				return fmt.Errorf("image %s not found in the registry (%s)", where, d.Message)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("registry denied access to %s (%s; docker login stores credentials nsagent uses)", where, d.Message)
			}
		}
		if terr.StatusCode == http.StatusNotFound {
			return fmt.Errorf("image %s not found in the registry", where)
		}
		return fmt.Errorf("registry error for %s: %s", where, oneLine(terr.Error()))
	}
	var oerr *net.OpError
	if errors.As(err, &oerr) && src.Kind == Registry {
		reason := oerr.Err.Error()
		if errors.Is(err, syscall.ECONNREFUSED) {
			reason = "connection refused"
		}
		return fmt.Errorf("registry %s is not reachable: %s", src.Ref.Context().RegistryStr(), reason)
	}
	var derr *net.DNSError
	if errors.As(err, &derr) && src.Kind == Registry {
		return fmt.Errorf("registry %s is not reachable: %s", src.Ref.Context().RegistryStr(), derr.Err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

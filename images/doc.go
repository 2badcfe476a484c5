// Package images turns container images into root filesystems: it pulls
// them from registries (through google/go-containerregistry, with the
// user's Docker credentials), reads `docker save` archives, OCI image
// layouts and plain `docker export` tarballs, verifies every digest, and
// keeps each layer unpacked once in a content-addressed cache that
// overlayfs mounts as lower layers.
//
// # What it owns
//
// Its cache directory (by default /var/lib/nsagent/images: persistent
// disk, not the tmpfs /run that holds workload state, since images are
// large and outlive reboots):
//
//	.lock                flock: shared while pulling, exclusive for rmi and gc
//	layers/HEX/          one unpacked layer by the sha256 of its uncompressed
//	                     tar (its diff id), whiteouts in overlayfs form
//	images/HEX.json      one image by its manifest digest: config, layers
//	refs.json            reference -> manifest digest
//	names.json           reference as written (alpine) -> reference
//	                     (for the launch binary: package cache)
//	tmp/                 unpackings in progress; renamed into layers/ when
//	                     complete and verified, removed on failure
//
// A pull into a directory flattens the cached layers there. Nothing is
// written outside the cache and the target: layerfs.Extract opens every
// parent with openat2 beneath its root with no symlink followed.
//
// A workload's copy-on-write root is an overlay of the cached layers with
// an upper directory in the workload's own state directory, mounted by
// the workload's init inside its mount namespace (layerfs.OverlayRoot): it dies
// with the workload, the upper goes with the workload's state (rm, --rm,
// gc), and the cache is never written.
package images

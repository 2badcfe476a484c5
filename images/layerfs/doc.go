// Package layerfs is what the image cache and the launcher both do with
// layers on disk: Extract unpacks a layer or root filesystem tarball
// beneath a directory (whiteouts applied, kept for overlayfs, or left as
// files), WriteTar writes an unpacked layer back as a tar, and
// OverlayRoot stacks unpacked layers into a workload's copy-on-write
// root.
//
// It is apart from package images so that the launcher, which needs only
// this, does not link the registry client (google/go-containerregistry):
// every start of the launch binary would run its package inits (see
// launcher/nsenter's fastlaunch.go).
package layerfs

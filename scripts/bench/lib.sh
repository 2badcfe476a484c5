# Shared by the bench scripts: sourced by them, skipped by bench.sh.

# busybox_rootfs DIR lays out a busybox root filesystem at DIR, as
# testutil.BuildBusyboxRootfs does for the tests.
busybox_rootfs() {
  local rootfs=$1 a
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root}
  cp /bin/busybox "$rootfs/bin/busybox"
  for a in $(/bin/busybox --list-full); do
    [ "$a" = bin/busybox ] && continue
    mkdir -p "$rootfs/$(dirname "$a")"
    ln -sf /bin/busybox "$rootfs/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
}

# build_nsagent OUT builds nsagent from this tree as `make build` does
# (static, netgo/osusergo, version and revision stamped): every benchmark
# measures the code it runs beside, never a stale binary, and the binary
# users get (bin/nsagent, which some of them write, stays a proper build).
build_nsagent() {
  local version revision
  version=$(git describe --always --dirty 2>/dev/null || echo dev)
  revision=$(git rev-parse HEAD 2>/dev/null || true)
  go build -tags netgo,osusergo -ldflags "-X main.version=$version -X main.revision=$revision -extldflags=-static" -o "$1" ./cmd/nsagent
}

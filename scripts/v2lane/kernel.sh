#!/usr/bin/env bash
# Fetches Debian's current 6.1 amd64 kernel for the cgroup v2 lane without
# installing it on the host, and prints the directory that holds it:
#   <dir>/vmlinuz        the kernel image
#   <dir>/vmlinux        the same kernel decompressed, when it can boot
#                        through PVH (qemu then skips the decompressor,
#                        which takes seconds under TCG)
#   <dir>/modules/       its lib/modules/<release> tree
#   <dir>/release        the release string (e.g. 6.1.0-56-amd64)
#   <dir>/ko-index       "<name> <path under modules/>" per module, names
#                        with '-' spelled '_' as the kernel does
# The package name is resolved from linux-image-amd64's dependency, so a
# kernel update in the archive is picked up; an unchanged name is served
# from the cache (V2LANE_CACHE, default ~/.cache/nsagent/v2lane) with no
# download.
set -euo pipefail

cache=${V2LANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nsagent/v2lane}
mkdir -p "$cache/kernel"

resolve() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1\.0-.*-amd64$/ { print $2; exit }'
}

pkg=$(resolve || true)
if [[ -z $pkg ]]; then
  echo "v2lane: refreshing the apt index to resolve linux-image-amd64" >&2
  apt-get update -q >&2
  pkg=$(resolve || true)
fi
if [[ -z $pkg ]]; then
  # No index (offline): use the newest kernel already cached, if any.
  pkg=$(ls -1 "$cache/kernel" 2>/dev/null | grep '^linux-image-6\.1\.0-' | sort -V | tail -1 || true)
  [[ -n $pkg ]] || { echo "v2lane: cannot resolve linux-image-amd64 to a 6.1 kernel and none is cached" >&2; exit 1; }
  echo "v2lane: apt cannot resolve linux-image-amd64; using cached $pkg" >&2
fi

dir=$cache/kernel/$pkg
if [[ ! -f $dir/.complete ]]; then
  echo "v2lane: downloading $pkg (once; cached in $dir)" >&2
  tmp=$(mktemp -d "$cache/kernel/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # The cache sits under root's 0700 home, which apt's _apt sandbox user
  # cannot write: download as root on purpose instead of warning about it.
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2)
  deb=$(ls "$tmp"/*.deb)
  mkdir -p "$tmp/x"
  dpkg-deb -x "$deb" "$tmp/x"
  vmlinuz=$(echo "$tmp"/x/boot/vmlinuz-*)
  release=${vmlinuz##*/vmlinuz-}
  mkdir -p "$tmp/out"
  mv "$vmlinuz" "$tmp/out/vmlinuz"
  mv "$tmp/x/lib/modules/$release" "$tmp/out/modules"
  echo "$release" >"$tmp/out/release"
  touch "$tmp/out/.complete"
  rm -rf "$dir"
  mv "$tmp/out" "$dir"
fi

if [[ ! -f $dir/ko-index ]]; then
  (cd "$dir/modules" && find kernel -name '*.ko*') |
    awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); gsub(/-/, "_", n); print n, $0 }' >"$dir/ko-index.tmp"
  mv "$dir/ko-index.tmp" "$dir/ko-index"
fi

# The decompressed ELF kernel with a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY,
# type 0x12) boots straight from qemu -kernel: measured here, it reaches
# /init about 6 s sooner than the xz-compressed bzImage under TCG.
if [[ ! -f $dir/vmlinux && ! -f $dir/.no-vmlinux ]]; then
  for off in $(LC_ALL=C grep -obUaP '\xfd\x37\x7a\x58\x5a\x00' "$dir/vmlinuz" | cut -d: -f1); do
    tail -c +$((off + 1)) "$dir/vmlinuz" | xz -dc 2>/dev/null >"$dir/vmlinux.tmp" || true
    if [[ $(head -c 4 "$dir/vmlinux.tmp" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] &&
      [[ $(readelf -n "$dir/vmlinux.tmp" 2>/dev/null) == *"(0x00000012)"* ]]; then
      mv "$dir/vmlinux.tmp" "$dir/vmlinux"
      break
    fi
  done
  rm -f "$dir/vmlinux.tmp"
  [[ -f $dir/vmlinux ]] || touch "$dir/.no-vmlinux"
fi
echo "$dir"

#!/usr/bin/env bash
# scripts/build.sh OUT builds nsagent as users get it; `make build`, the
# benchmarks and the tests all build through it.
#
# Two builds: first the launch-only binary (tag launchonly: the launcher's
# commands without the observer's packages, whose inits every start of a
# Go binary pays), then the binary users get (tag embedlaunch), which
# embeds it gzipped and knows it by the first 16 hex digits of its SHA-256
# (NSAGENT_LAUNCH_ID, a C define read by its constructor). Package
# launcher/nsenter's fastlaunch.go says how `nsagent launch` uses it.
#
# Static (-extldflags=-static): nsagent starts twice per launch (launcher
# and the workload's init) and a dynamically linked cgo binary pays the
# loader each time (launch CPU 79 ms dynamic vs 66 ms static in one paired
# run at load ~25). netgo,osusergo keep glibc's NSS, which a static binary
# cannot load, out of it.
#
# The launch-only binary has no symbol table or DWARF (-s -w; panics
# still print their stacks): it is written out once per build.
#
# Environment: GO (default go), VERSION and REVISION (default: from git).
set -euo pipefail
out=$(realpath -m "$1")
cd "$(dirname "$0")/.."
GO=${GO:-go}
command -v "$GO" >/dev/null || GO=/usr/local/go/bin/go
version=${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
revision=${REVISION:-$(git rev-parse HEAD 2>/dev/null || true)}
ldflags="-X main.version=$version -X main.revision=$revision -extldflags=-static"
tags=netgo,osusergo
export CGO_ENABLED=1

mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$(dirname "$out")/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$GO" build -tags "$tags,launchonly" -ldflags "-s -w $ldflags" -o "$tmp/launch" ./cmd/nsagent
id=$(sha256sum "$tmp/launch" | cut -c1-16)
# By rename: builds running side by side (test packages) each see a whole
# file, and the same tree makes the same bytes.
gzip -n -6 -c "$tmp/launch" >"$tmp/launch.gz"
mv "$tmp/launch.gz" cmd/nsagent/nsagent-launch.gz
CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -DNSAGENT_LAUNCH_ID=$id" \
  "$GO" build -tags "$tags,embedlaunch" -ldflags "$ldflags" -o "$out" ./cmd/nsagent

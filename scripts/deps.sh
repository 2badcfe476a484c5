#!/usr/bin/env bash
# Installs what nsagent's build, tests and benchmarks need on a fresh Debian
# 12 machine (run as root). Go itself comes with the machine (/usr/local/go).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(
  make gcc pkg-config libseccomp-dev   # build (cgo for libseccomp)
  util-linux iproute2 procps psmisc    # lsns, unshare, nsenter, ip: references and test tools
  busybox-static                       # root filesystems for launcher tests
  docker.io runc                       # a real Docker engine and runc
  docker-registry                      # a loopback registry for pull tests
  nftables iptables                    # NAT checks from the outside
  prometheus                           # prometheus and promtool
  prometheus-node-exporter prometheus-process-exporter  # benchmark references
  chromium                             # web view tests (headless)
  qemu-system-x86 xz-utils             # the cgroup v2 lane
  hyperfine jq bc time                 # benchmark drivers
  systemd docker-compose               # deploy-check: systemd-analyze verify, docker-compose config
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  apt-get update -q
  # policy-rc.d keeps the packages' init scripts from starting daemons;
  # the test setup starts the ones it needs and stops them after.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi
command -v go >/dev/null || export PATH=$PATH:/usr/local/go/bin
go version

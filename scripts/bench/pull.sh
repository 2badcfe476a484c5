#!/usr/bin/env bash
# Pull of a ~50 MB, 4-layer image (busybox plus three layers of random
# data) from a loopback registry (Debian docker-registry), side by side in
# one run (paired rounds, medians): `nsagent pull` into a cold cache (a
# fresh image dir each round), `nsagent pull IMAGE DIR` (cold cache, root
# filesystem laid out), and `docker pull` (the tag removed before each
# round). Then a cached `nsagent launch IMAGE true` against a launch from
# the laid-out directory. Removes everything it made: the registry (by
# pid), the tag, the image cache, the workloads' state and cgroups.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin
ROUNDS=${ROUNDS:-5}
LAUNCH_ROUNDS=${LAUNCH_ROUNDS:-20}

bin=bin/nsagent
build_nsagent "$bin"
work=$(mktemp -d /tmp/nsagent-bench-pull.XXXXXX)
port=$((20000 + RANDOM % 20000))
ref=127.0.0.1:$port/nsagent-bench-pull:50m
state=$work/state
parent=/nsagent-bench-pull-$$
regpid=
cleanup() {
  set +e
  if [ -n "$regpid" ]; then kill "$regpid" 2>/dev/null; wait "$regpid" 2>/dev/null; fi
  docker rmi "$ref" >/dev/null 2>&1
  "$bin" gc --state-dir "$state" --cgroup-parent "$parent" >/dev/null 2>&1 || true
  for h in /sys/fs/cgroup/*/; do rmdir "$h$parent" 2>/dev/null; done
  rmdir "/sys/fs/cgroup$parent" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
/usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
regpid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.05; done

# The image: a busybox root filesystem and three 16 MiB random layers.
ctx=$work/ctx
mkdir -p "$ctx/rootfs"/{bin,etc,tmp,proc,sys,dev}
cp /bin/busybox "$ctx/rootfs/bin/busybox"
for a in sh true echo ls; do ln -s busybox "$ctx/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ctx/rootfs/etc/passwd"
tar -C "$ctx/rootfs" -cf "$ctx/rootfs.tar" .
printf 'FROM scratch\nADD rootfs.tar /\n' >"$ctx/Dockerfile"
for i in 1 2 3; do
  mkdir -p "$ctx/l$i/data"
  head -c $((16 << 20)) /dev/urandom >"$ctx/l$i/data/blob$i"
  tar -C "$ctx/l$i" -cf "$ctx/l$i.tar" .
  rm -rf "$ctx/l$i"
  printf 'ADD l%d.tar /\n' "$i" >>"$ctx/Dockerfile"
done
rm -rf "$ctx/rootfs"
DOCKER_BUILDKIT=0 docker build -q -t "$ref" "$ctx" >/dev/null 2>"$work/build.log" || { cat "$work/build.log" >&2; exit 1; }
docker push -q "$ref" >/dev/null
size=$(du -sb "$work/registry" | cut -f1)

# Times are microseconds from EPOCHREALTIME, read by bash itself: no
# process forked around the clock.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
declare -a t_ns t_nsdir t_docker
for i in $(seq 1 "$ROUNDS"); do
  docker rmi "$ref" >/dev/null
  rm -rf "$work/cache" "$work/rootfs"
  s=${EPOCHREALTIME/./}; "$bin" pull --image-dir "$work/cache" "$ref" >/dev/null; e=${EPOCHREALTIME/./}
  t_ns+=($((e - s)))
  rm -rf "$work/cache"
  s=${EPOCHREALTIME/./}; "$bin" pull --image-dir "$work/cache" "$ref" "$work/rootfs" >/dev/null; e=${EPOCHREALTIME/./}
  t_nsdir+=($((e - s)))
  sync
  s=${EPOCHREALTIME/./}; docker pull -q "$ref" >/dev/null; e=${EPOCHREALTIME/./}
  t_docker+=($((e - s)))
  sync
done
m_ns=$(median "${t_ns[@]}"); m_nsdir=$(median "${t_nsdir[@]}"); m_docker=$(median "${t_docker[@]}")
printf 'pull of a %d MB 4-layer image from a loopback registry, %d paired rounds, median wall time:\n' $((size / 1000000)) "$ROUNDS"
printf '  nsagent pull IMAGE (cold cache)      %8.1f ms\n' "$(echo "$m_ns/1000" | bc -l)"
printf '  nsagent pull IMAGE DIR (cold cache)  %8.1f ms\n' "$(echo "$m_nsdir/1000" | bc -l)"
printf '  docker pull                          %8.1f ms\n' "$(echo "$m_docker/1000" | bc -l)"
printf '  ratio nsagent pull/docker pull       %8.2f (target <= 1.00)\n' "$(echo "$m_ns/$m_docker" | bc -l)"
printf '  ratio nsagent pull DIR/docker pull   %8.2f\n' "$(echo "$m_nsdir/$m_docker" | bc -l)"

# Cached launch of the image against a launch from the laid-out tree
# (both --net none: a bridge made and removed by every launch would add
# tens of milliseconds of noise to both sides), in
# alternating order (a launch's namespaces are dismantled by the kernel
# after it returns, and that work lands on whichever launch comes next);
# the difference is the median of the per-round differences. Both run in
# the launch binary (launcher/nsenter/fastlaunch.go: the image by the name
# the pull recorded); the directory launch in the full binary
# (NSAGENT_LAUNCH_BINARY=0) is timed too, first in each round (so the two
# compared follow it equally often), for what the launch binary saves.
declare -a t_img t_dir t_full d_img d_full
launch_img() { "$bin" launch --rm --net none --image-dir "$work/cache" --state-dir "$state" --cgroup-parent "$parent" "$ref" /bin/true; }
launch_dir() { "$bin" launch --rm --net none --state-dir "$state" --cgroup-parent "$parent" "$work/rootfs" /bin/true; }
launch_full() { NSAGENT_LAUNCH_BINARY=0 launch_dir; }
timed() { local s e; s=${EPOCHREALTIME/./}; "$@"; e=${EPOCHREALTIME/./}; echo $((e - s)); }
# One of each first: the launch binary installed, each binary's compiled
# seccomp profile cached.
launch_img; launch_dir; launch_full
for i in $(seq 1 "$LAUNCH_ROUNDS"); do
  c=$(timed launch_full)
  if ((i % 2)); then
    a=$(timed launch_img); b=$(timed launch_dir)
  else
    b=$(timed launch_dir); a=$(timed launch_img)
  fi
  t_img+=("$a"); t_dir+=("$b"); t_full+=("$c"); d_img+=($((a - b))); d_full+=($((a - c)))
done
m_img=$(median "${t_img[@]}"); m_dir=$(median "${t_dir[@]}"); m_full=$(median "${t_full[@]}")
printf 'launch /bin/true, %d paired rounds, median wall time:\n' "$LAUNCH_ROUNDS"
printf '  nsagent launch IMAGE (cached)        %8.2f ms\n' "$(echo "$m_img/1000" | bc -l)"
printf '  nsagent launch DIR                   %8.2f ms\n' "$(echo "$m_dir/1000" | bc -l)"
printf '  ... DIR in the full binary           %8.2f ms (image minus this, median of paired: %.2f ms)\n' "$(echo "$m_full/1000" | bc -l)" "$(echo "$(median "${d_full[@]}")/1000" | bc -l)"
printf '  difference (median of paired)       %8.2f ms (target <= 2.00)\n' "$(echo "$(median "${d_img[@]}")/1000" | bc -l)"

# CPU time (user+sys, launcher and init) per launch: steadier than wall
# time when the machine is shared.
cpu() {
  /usr/bin/time -f '%U %S' bash -c "for i in \$(seq $LAUNCH_ROUNDS); do $* >/dev/null; done" 2>&1 >/dev/null | tail -1 |
    awk -v n="$LAUNCH_ROUNDS" '{printf "%.2f", ($1 + $2) * 1000 / n}'
}
c_img=$(cpu "$bin" launch --rm --net none --image-dir "$work/cache" --state-dir "$state" --cgroup-parent "$parent" "$ref" /bin/true)
c_dir=$(cpu "$bin" launch --rm --net none --state-dir "$state" --cgroup-parent "$parent" "$work/rootfs" /bin/true)
printf 'launch /bin/true, CPU time per launch over %d launches:\n' "$LAUNCH_ROUNDS"
printf '  nsagent launch IMAGE (cached)        %8.2f ms\n' "$c_img"
printf '  nsagent launch DIR                   %8.2f ms\n' "$c_dir"
printf '  difference                           %8.2f ms\n' "$(echo "$c_img-$c_dir" | bc -l)"

#!/usr/bin/env bash
# containers: what container discovery (roles, logical chain, runtime
# metadata) adds to the full inventory scan it runs on, at 2,000 processes
# or more with a few Docker containers running. Paired runs, medians; the
# issue's target is ratio-warm <= 0.10. Removes its load on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin
target=${NSAGENT_BENCH_PROCS:-2000}
runs=${NSAGENT_BENCH_RUNS:-15}
image=nsagent-bench/busybox:latest
tmp=$(mktemp -d)
pids=()
ctrs=()
imported=0

cleanup() {
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  for c in "${ctrs[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  ((imported)) && docker rmi "$image" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

if ! docker image inspect "$image" >/dev/null 2>&1; then
  mkdir -p "$tmp/rootfs/bin"
  cp /bin/busybox "$tmp/rootfs/bin/busybox"
  ln -s busybox "$tmp/rootfs/bin/sleep"
  tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
  docker import "$tmp/rootfs.tar" "$image" >/dev/null
  imported=1
fi
for i in 1 2 3 4 5; do
  ctrs+=("$(docker run -d --label nsagent-test=1 --memory 32m --pids-limit 100 --name "nsagent-bench-ct-$$-$i" "$image" sleep 3600)")
done

have=$(find /proc -maxdepth 1 -name '[0-9]*' 2>/dev/null | wc -l)
for ((i = have; i < target; i++)); do
  sleep 3600 &
  pids+=($!)
done
echo "load: $(find /proc -maxdepth 1 -name '[0-9]*' 2>/dev/null | wc -l) processes, ${#ctrs[@]} docker containers"

out=$(go test -run '^$' -bench '^BenchmarkLiveDiscover$' -benchtime "${runs}x" ./inventory/containers/)
echo "$out" | grep -E '^Benchmark' || { echo "$out" >&2; exit 1; }
echo "$out" | awk '/^BenchmarkLiveDiscover/ {
  for (i = 1; i <= NF; i++) m[$(i+1)] = $i
  printf "full scan %.1f ms; discovery %.2f ms warm (serve), %.2f ms cold (one-shot)\n", m["scan-ms"], m["discover-warm-ms"], m["discover-cold-ms"]
  printf "ratio discovery/scan: warm %.3f, cold %.3f (target <= 0.10)\n", m["ratio-warm"], m["ratio-cold"]
  if (m["ratio-warm"] > 0.10) { print "containers: over the 10% budget"; exit 1 }
}'

#!/usr/bin/env bash
# Cost of the bridge network on a launch of /bin/true, paired against
# --net none in the same rounds (medians of the per-round differences):
#   cold: the bridge, its nftables table and DOCKER-USER rules are made
#         by every launch (no other workload on the bridge) and removed
#         after it, in the background;
#   warm: a sleeping workload keeps the bridge up, so a launch adds only
#         its address, veth, and their removal.
# Then 20 concurrent launches on the bridge: distinct addresses, and the
# host's links, addresses, routes and ruleset as before once they are gone.
# Target: the network adds <= 5 ms to a launch. Removes everything it made.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin
ROUNDS=${ROUNDS:-30}

bin=bin/nsagent
build_nsagent "$bin"
work=$(mktemp -d /tmp/nsagent-bench-net.XXXXXX)
state=$work/state
parent=/nsagent-bench-net-$$
br=nsab$$
subnet=10.253.$(($$ % 200)).0/24
# Flags go before ROOTFS: what follows it is the workload's command.
ns() { local sub=$1; shift; "$bin" "$sub" --state-dir "$state" --cgroup-parent "$parent" --bridge "$br" --subnet "$subnet" "$@"; }
gc() { "$bin" gc --state-dir "$state" --cgroup-parent "$parent"; }
cleanup() {
  for id in $(ls "$state" 2>/dev/null); do
    [ -d "$state/$id" ] && [ "$id" != cache ] && "$bin" rm -f --state-dir "$state" --cgroup-parent "$parent" "$id" >/dev/null 2>&1 || true
  done
  gc >/dev/null 2>&1 || true
  for h in /sys/fs/cgroup/*/; do rmdir "$h$parent" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

rootfs=$work/rootfs
busybox_rootfs "$rootfs"

# Containers of others come and go on a shared host: their veths and
# docker0's carrier are left out.
snapshot() {
  local keep='select((.ifname // .dev // "") | test("^(veth|br-)") | not) | if ((.ifname // .dev) == "docker0") then del(.flags, .operstate) else . end'
  ip -j link | jq -c ".[] | $keep"
  ip -j addr | jq -c ".[] | $keep | del(.addr_info[]?.valid_life_time, .addr_info[]?.preferred_life_time)"
  ip -j route | jq -c ".[] | $keep"
  nft list ruleset 2>/dev/null | sed -E 's/(packets|bytes) [0-9]+/\1 N/g'
  iptables-save | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//'
  cat /proc/sys/net/ipv4/ip_forward
}
before=$(snapshot)

# Times are microseconds from EPOCHREALTIME, read by bash itself: no
# process forked around the clock.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
ms() { echo "scale=2; $1/1000" | bc -l; }
one() { # net -> microseconds of one launch
  local s e
  s=${EPOCHREALTIME/./}; ns launch --rm --net "$1" "$rootfs" /bin/true; e=${EPOCHREALTIME/./}
  echo $((e - s))
}
# Rounds alternate their order (none first in odd rounds, bridge first in
# even ones): a launch's network namespace is dismantled by the kernel
# after it returns, in the background, and that work lands on whichever
# launch comes next.
run_rounds() { # label -> fills t_none t_bridge d
  t_none=(); t_bridge=(); d=()
  local a b
  for i in $(seq 1 "$ROUNDS"); do
    if ((i % 2)); then
      a=$(one none); b=$(one bridge)
    else
      b=$(one bridge); a=$(one none)
    fi
    t_none+=("$a"); t_bridge+=("$b"); d+=($((b - a)))
  done
  printf '%s, %d paired rounds, median wall time:\n' "$1" "$ROUNDS"
  printf '  nsagent launch --net none    %8.2f ms\n' "$(ms "$(median "${t_none[@]}")")"
  printf '  nsagent launch --net bridge  %8.2f ms\n' "$(ms "$(median "${t_bridge[@]}")")"
  printf '  network cost (median of paired differences) %8.2f ms (target <= 5)\n' "$(ms "$(median "${d[@]}")")"
}
# bridge_gone: how long after the only workload on a bridge has returned
# the bridge is gone from the host (the tear-down runs in the background).
bridge_gone() {
  local s t=()
  for i in 1 2 3 4 5; do
    ns launch --rm --net bridge "$rootfs" /bin/true
    s=${EPOCHREALTIME/./}
    while ip link show "$br" >/dev/null 2>&1; do
      ((${EPOCHREALTIME/./} - s < 5000000)) || { echo "  bridge still there 5 s after the launch returned" >&2; break; }
    done
    t+=($((${EPOCHREALTIME/./} - s)))
  done
  printf '  bridge gone from the host after the launch returned: median %.2f ms (background tear-down)\n' "$(ms "$(median "${t[@]}")")"
}
# veth_gone: how long after a bridge launch returns its veth pair is gone
# from the host (the kernel removes it with the workload's network
# namespace, off the launch's path).
veth_gone() {
  local n0 s t=()
  n0=$(ip -o link show type veth | wc -l)
  for i in 1 2 3 4 5; do
    ns launch --rm --net bridge "$rootfs" /bin/true
    s=${EPOCHREALTIME/./}
    while [ "$(ip -o link show type veth | wc -l)" -gt "$n0" ]; do
      ((${EPOCHREALTIME/./} - s < 5000000)) || { echo "  veth still there 5 s after the launch returned" >&2; break; }
    done
    t+=($((${EPOCHREALTIME/./} - s)))
  done
  printf '  veth pair gone from the host after the launch returned: median %.2f ms (kernel namespace teardown)\n' "$(ms "$(median "${t[@]}")")"
}

run_rounds "cold bridge (made and removed by each launch)"
bridge_gone
keeper=$(ns launch -d --net bridge "$rootfs" sleep 100000)
run_rounds "warm bridge (another workload keeps it up)"
veth_gone
"$bin" rm -f --state-dir "$state" --cgroup-parent "$parent" "$keeper" >/dev/null

# 20 concurrent launches on the bridge.
ids=()
pids=()
for i in $(seq 1 20); do
  ns launch -d --net bridge "$rootfs" sleep 100000 >"$work/id.$i" &
  pids+=($!)
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=$((fail + 1)); done
for i in $(seq 1 20); do ids+=("$(cat "$work/id.$i")"); done
addrs=$("$bin" ps -o json --state-dir "$state" --cgroup-parent "$parent" | jq -r '.[].net.address' | sort)
distinct=$(printf '%s\n' "$addrs" | sort -u | grep -c . || true)
printf '20 concurrent launches: %d failed, %d distinct addresses\n' "$fail" "$distinct"
for id in "${ids[@]}"; do
  [ -n "$id" ] && "$bin" rm -f --state-dir "$state" --cgroup-parent "$parent" "$id" >/dev/null &
done
wait
# The last workload out tears the bridge down in the background: give it
# a moment.
for _ in $(seq 1 100); do
  after=$(snapshot)
  [ "$before" = "$after" ] && break
  sleep 0.05
done
if [ "$before" = "$after" ]; then
  echo "host links, addresses, routes, ruleset and ip_forward after the last workload: unchanged"
else
  echo "host network state CHANGED:"; diff <(echo "$before") <(echo "$after") || true
  exit 1
fi
[ "$fail" -eq 0 ] && [ "$distinct" -eq 20 ]

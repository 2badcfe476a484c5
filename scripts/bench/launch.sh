#!/usr/bin/env bash
# Launch of /bin/true in one busybox root filesystem, side by side in one
# run (paired rounds, medians): nsagent launch --net none (Docker's
# default seccomp profile, the default), with --seccomp unconfined, and
# in the full binary (NSAGENT_LAUNCH_BINARY=0),
# runc run of a `runc spec` bundle (runc's default profile), and unshare
# of the same six namespaces as the floor.
# Also reports nsagent's peak RSS and the memory charged to a --mem 4M
# workload's cgroup right after start. Removes everything it made.
# Exit status: 0 when nsagent is within 0.5x runc (PASS), 1 otherwise.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin
ROUNDS=${ROUNDS:-30}

bin=bin/nsagent
build_nsagent "$bin"
work=$(mktemp -d /tmp/nsagent-bench-launch.XXXXXX)
state=$work/state
parent=/nsagent-bench-$$
runc_cg=/nsagent-bench-runc-$$
cleanup() {
  "$bin" gc --state-dir "$state" --cgroup-parent "$parent" >/dev/null 2>&1 || true
  for h in /sys/fs/cgroup/*/; do
    rmdir "$h$runc_cg" "$h$parent" 2>/dev/null || true
  done
  rmdir "/sys/fs/cgroup$runc_cg" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The busybox root filesystem (as testutil.BuildBusyboxRootfs lays it out).
rootfs=$work/rootfs
busybox_rootfs "$rootfs"

# runc bundle over the same rootfs, cgroup at an absolute path (relative
# would nest under the machine supervisor's cgroup).
bundle=$work/bundle
mkdir -p "$bundle"
runc spec --bundle "$bundle"
jq --arg root "$rootfs" --arg cg "$runc_cg" \
  '.process.terminal=false | .process.args=["/bin/true"] | .root.path=$root | .linux.cgroupsPath=$cg' \
  "$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"

# Times are microseconds from EPOCHREALTIME, read by bash itself: a `date`
# forked around the clock added its own fork, exec and exit (about 5 ms
# here) to every launch timed, on both sides of the ratio.
declare -a t_ns t_unc t_runc t_unshare t_full
# Two launches first, as on any machine after its first launches: the
# first installs the launch binary (launcher/nsenter/fastlaunch.go), and
# each binary caches the default profile's compiled program.
for _ in 1 2; do
  "$bin" launch --rm --net none --state-dir "$state" --cgroup-parent "$parent" "$rootfs" /bin/true
done
# Each round times the same launch kept in the binary it was started as
# (the full binary: no launch binary, see launcher/nsenter/fastlaunch.go)
# first, then the default profile and unconfined in alternating order. A
# launch's namespaces are dismantled by the kernel after it returns, in the
# background, and that work lands on whichever launch comes next: so each
# of the two follows the other and the full binary's launch equally often,
# and the profile's cost is the median of the per-round differences.
declare -a d_sec
one() { # extra flags... -> microseconds of one launch
  local s e
  s=${EPOCHREALTIME/./}; "$bin" launch --rm --net none "$@" --state-dir "$state" --cgroup-parent "$parent" "$rootfs" /bin/true; e=${EPOCHREALTIME/./}
  echo $((e - s))
}
full() { NSAGENT_LAUNCH_BINARY=0 one; }
for i in $(seq 1 "$ROUNDS"); do
  c=$(full)
  if ((i % 2)); then
    a=$(one); b=$(one --seccomp unconfined)
  else
    b=$(one --seccomp unconfined); a=$(one)
  fi
  t_ns+=("$a"); t_unc+=("$b"); t_full+=("$c"); d_sec+=($((a - b)))
  s=${EPOCHREALTIME/./}; runc run --bundle "$bundle" "nsagent-bench-$$-$i" </dev/null; e=${EPOCHREALTIME/./}
  t_runc+=($((e - s)))
  s=${EPOCHREALTIME/./}; unshare --fork --pid --mount --uts --ipc --net --mount-proc true; e=${EPOCHREALTIME/./}
  t_unshare+=($((e - s)))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
m_ns=$(median "${t_ns[@]}"); m_unc=$(median "${t_unc[@]}"); m_runc=$(median "${t_runc[@]}"); m_unshare=$(median "${t_unshare[@]}")
printf 'launch /bin/true, %d paired rounds, median wall time (load %s):\n' "$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '  nsagent launch --net none  %8.2f ms  (seccomp default)\n' "$(echo "$m_ns/1000" | bc -l)"
printf '  ... --seccomp unconfined   %8.2f ms  (the profile adds %.2f ms, median of paired differences; target <= 1)\n' "$(echo "$m_unc/1000" | bc -l)" "$(echo "$(median "${d_sec[@]}")/1000" | bc -l)"
m_full=$(median "${t_full[@]}")
printf '  ... in the full binary     %8.2f ms  (NSAGENT_LAUNCH_BINARY=0: the launch binary takes %.2f of its time)\n' "$(echo "$m_full/1000" | bc -l)" "$(echo "$m_ns/$m_full" | bc -l)"
printf '  runc run                   %8.2f ms\n' "$(echo "$m_runc/1000" | bc -l)"
printf '  unshare (floor)            %8.2f ms\n' "$(echo "$m_unshare/1000" | bc -l)"
ratio=$(echo "$m_ns/$m_runc" | bc -l)
verdict=MISS
awk -v r="$ratio" 'BEGIN {exit !(r <= 0.5)}' && verdict=PASS
printf '  ratio nsagent/runc         %8.2f (target <= 0.50: %s)\n' "$ratio" "$verdict"
printf '  ratio nsagent/unshare      %8.2f\n' "$(echo "$m_ns/$m_unshare" | bc -l)"

# Peak RSS of the launcher (GNU time reports the largest of the process and
# its waited-for children: the launcher or its init, whichever is bigger).
rss=$(/usr/bin/time -f '%M' "$bin" launch --rm --net none --state-dir "$state" --cgroup-parent "$parent" "$rootfs" /bin/true 2>&1 >/dev/null | tail -1)
rss_full=$(NSAGENT_LAUNCH_BINARY=0 /usr/bin/time -f '%M' "$bin" launch --rm --net none --state-dir "$state" --cgroup-parent "$parent" "$rootfs" /bin/true 2>&1 >/dev/null | tail -1)
printf 'nsagent launch peak RSS: %s KiB (in the full binary: %s KiB)\n' "$rss" "$rss_full"

# Memory charged to a --mem 4M workload's cgroup right after start.
id=$("$bin" launch -d --net none --mem 4M --state-dir "$state" --cgroup-parent "$parent" "$rootfs" sleep 1000)
charged=$(cat "/sys/fs/cgroup/memory$parent/$id/memory.usage_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup$parent/$id/memory.current")
printf 'memory charged to a --mem 4M workload (sleep) right after start: %d bytes (%d KiB of 4096)\n' "$charged" $((charged / 1024))
"$bin" rm -f --state-dir "$state" --cgroup-parent "$parent" "$id" >/dev/null
[ "$verdict" = PASS ]

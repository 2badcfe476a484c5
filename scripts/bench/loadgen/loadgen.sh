#!/usr/bin/env bash
# loadgen.sh: builds and removes the namespace load the lsns benchmark
# measures on.
#
#   loadgen.sh start STATE_DIR [SETS] [SLEEPS]   # default 200 sets x 9 sleeps
#   loadgen.sh stop  STATE_DIR
#
# Each set is one `unshare --fork --kill-child` with new mnt, uts, ipc, net,
# pid and cgroup namespaces; every 2nd set adds a time namespace and every
# 4th a user namespace, so all eight types appear. Inside, `sh` starts
# SLEEPS sleeps: 200 sets make 200 x (1 unshare + 1 sh + 9 sleep) = 2,200
# processes.
#
# Removal must be exact and must not depend on names, so the load lives in
# a pids cgroup of its own (/sys/fs/cgroup/pids/nsagent-bench-load-<pid>):
# stop SIGKILLs the recorded unshare pids (unshare --fork ignores SIGTERM;
# --kill-child takes the pid namespace's init, and with it every sleep,
# along), then SIGKILLs anything still listed in the cgroup (only the load
# can be there), removes the cgroup, and checks that none of the load's
# namespace inodes is still alive anywhere on the host.
set -euo pipefail

cmd=${1:?usage: loadgen.sh start|stop STATE_DIR [SETS] [SLEEPS]}
state=${2:?usage: loadgen.sh start|stop STATE_DIR [SETS] [SLEEPS]}
pidsroot=/sys/fs/cgroup/pids

die() { echo "loadgen: $*" >&2; exit 1; }

# all_ns prints "type:[inode]" for every namespace any process is in.
all_ns() {
  { find /proc/[0-9]*/ns/ -maxdepth 1 -type l \
    ! -name '*_for_children' -printf '%l\n' 2>/dev/null || true; } | sort -u # processes come and go
}


start() {
  local sets=${1:-200} sleeps=${2:-9}
  [ "$(id -u)" = 0 ] || die "must run as root"
  [ -d "$pidsroot" ] || die "$pidsroot missing: need the cgroup v1 pids controller"
  mkdir -p "$state"
  [ ! -e "$state/cgroup" ] || die "$state already holds a load; stop it first"
  local cg=$pidsroot/nsagent-bench-load-$$
  mkdir "$cg" || die "create cgroup $cg"
  echo "$cg" >"$state/cgroup"
  : >"$state/pids"
  local inner="i=0; while [ \$i -lt $sleeps ]; do sleep 86400 & i=\$((i+1)); done; wait"
  (
    # Everything started from here on is charged to the load's cgroup.
    echo "$BASHPID" >"$cg/cgroup.procs"
    for ((i = 0; i < sets; i++)); do
      extra=()
      ((i % 2 == 0)) && extra+=(--time)
      ((i % 4 == 0)) && extra+=(--user --map-root-user)
      unshare --fork --kill-child --mount --uts --ipc --net --pid --cgroup \
        "${extra[@]}" --mount-proc sh -c "$inner" </dev/null >/dev/null 2>&1 &
      echo $! >>"$state/pids"
    done
  )
  local want=$((sets * (sleeps + 2))) n=0
  for _ in $(seq 300); do
    n=$(wc -l <"$cg/cgroup.procs")
    [ "$n" -ge "$want" ] && break
    sleep 0.1
  done
  [ "$n" -ge "$want" ] || die "only $n of $want load processes started"
  # Record the load's own namespaces: those of its processes that the
  # host's init namespaces (seen through this shell) are not.
  local host
  host=$(find /proc/$$/ns/ -maxdepth 1 -type l ! -name '*_for_children' -printf '%l\n' | sort -u)
  while read -r pid; do
    find /proc/"$pid"/ns/ -maxdepth 1 -type l ! -name '*_for_children' -printf '%l\n' 2>/dev/null || true
  done <"$cg/cgroup.procs" | sort -u | comm -23 - <(echo "$host") >"$state/ns"
  echo "loadgen: $n processes in $(wc -l <"$state/ns") namespaces ($sets sets) in $cg"
}

stop() {
  [ -e "$state/cgroup" ] || return 0
  local cg
  cg=$(cat "$state/cgroup")
  if [ -d "$cg" ]; then
    while read -r pid; do
      kill -KILL "$pid" 2>/dev/null || true
    done <"$state/pids"
    local n=1
    for _ in $(seq 100); do
      n=$(wc -l <"$cg/cgroup.procs")
      [ "$n" -eq 0 ] && break
      # Stragglers are the load's own (nothing else is in this cgroup);
      # a sleep caught mid-fork by its init's death ends up here.
      while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$cg/cgroup.procs"
      sleep 0.1
    done
    [ "$n" -eq 0 ] || die "$n processes still in $cg"
    rmdir "$cg" || die "remove cgroup $cg"
  fi
  # Namespaces outlive their last process only while something holds them;
  # the load holds nothing, so all of them must be gone.
  local left=0
  if [ -s "$state/ns" ]; then
    for _ in $(seq 50); do
      left=$(all_ns | comm -12 - "$state/ns" | wc -l)
      [ "$left" -eq 0 ] && break
      sleep 0.1
    done
  fi
  [ "$left" -eq 0 ] || die "$left of the load's namespaces are still alive"
  echo "loadgen: removed; none of the load's $(wc -l <"$state/ns") namespaces remain, cgroup $cg gone"
  rm -f "$state/cgroup" "$state/pids" "$state/ns"
}

case $cmd in
start) shift 2; start "$@" ;;
stop) stop ;;
*) die "unknown command $cmd (want start or stop)" ;;
esac

#!/usr/bin/env bash
# Writes the fixture host trees under testdata/fixtures/{v1,hybrid,v2}: a
# small /proc (init, kthreadd, a kernel worker, dockerd, containerd, a shim
# re-parented to init, a container init and its child in new namespaces, a
# process holding a net namespace fd, a zombie) plus an nsfs mount held
# namespace, a passwd file, and a cgroupfs tree in each layout.
# Run from inventory/: bash testdata/mkfixtures.sh. The trees are checked in;
# tests read them, and golden files are made from them with -update.
set -euo pipefail
cd "$(dirname "$0")"
out=fixtures
rm -rf "$out"
CID=3f2d5c6a1b7e4d8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f

# host namespaces: cgroup ipc mnt net pid time user uts (inodes as the kernel numbers them)
declare -A HOST=([mnt]=4026531841 [net]=4026531840 [pid]=4026531836 [uts]=4026531838 [ipc]=4026531839 [user]=4026531837 [cgroup]=4026531835 [time]=4026531834)
declare -A CTR=([mnt]=4026532301 [net]=4026532304 [pid]=4026532303 [uts]=4026532302 [ipc]=4026532305 [user]=4026531837 [cgroup]=4026532306 [time]=4026531834)
NETNS_HELD=4026532400   # held only by a bind mount (ip netns add blue)
NETNS_FD=4026532410     # held only by an open fd of pid 300

proc() { # layout pid ppid comm state uid threads start kernel cmdline(NUL-separated via |) nsset cgroupfile
  local L=$1 pid=$2 ppid=$3 comm=$4 state=$5 uid=$6 threads=$7 start=$8 kflag=$9 cmd=${10} nsset=${11} cg=${12}
  local d=$out/$L/proc/$pid flags=4194560
  [ "$kflag" = 1 ] && flags=2129984
  mkdir -p "$d/ns" "$d/fd"
  echo "$pid ($comm) $state $ppid $pid $pid 0 -1 $flags 100 0 0 0 1 2 0 0 20 0 $threads 0 $start 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0" >"$d/stat"
  printf '%s' "$cmd" | tr '|' '\0' >"$d/cmdline"
  local seccomp=0 nnp=0 cap=000001ffffffffff filters=0
  if [ "$nsset" = CTR ]; then seccomp=2 nnp=0 cap=00000000a80425fb filters=1; fi
  printf 'Name:\t%s\nState:\t%s\nUid:\t%s\t%s\t%s\t%s\nNoNewPrivs:\t%s\nSeccomp:\t%s\nSeccomp_filters:\t%s\nCapEff:\t%s\n' \
    "$comm" "$state" "$uid" "$uid" "$uid" "$uid" "$nnp" "$seccomp" "$filters" "$cap" >"$d/status"
  printf '%s\n' "$cg" | tr '|' '\n' >"$d/cgroup"
  if [ "$state" != Z ]; then
    local -n NS=$nsset
    for t in cgroup ipc mnt net pid time user uts; do ln -s "$t:[${NS[$t]}]" "$d/ns/$t"; done
  fi
  ln -s /dev/null "$d/fd/0"
}

v1cg() { # path -> /proc/<pid>/cgroup for v1 (and hybrid adds 0::)
  local p=$1 hy=$2
  local s="9:name=systemd:$p|8:pids:$p|4:memory:$p|2:cpuacct:$p|1:cpu:$p"
  [ "$hy" = 1 ] && s="$s|0::$p"
  echo "$s"
}

for L in v1 hybrid v2; do
  mkdir -p "$out/$L/proc" "$out/$L/rootfs/etc"
  printf 'cpu  1 2 3 4 5 6 7 0 0 0\nbtime 1764000000\n' >"$out/$L/proc/stat"
  printf 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n' >"$out/$L/rootfs/etc/passwd"
  hy=0; [ $L = hybrid ] && hy=1
  cg() { if [ $L = v2 ]; then echo "0::$1"; else v1cg "$1" $hy; fi; }
  dockercg=/docker/$CID
  [ $L = v2 ] && dockercg=/system.slice/docker-$CID.scope
  proc $L 1 0 systemd S 0 1 1 0 "/sbin/init|splash" HOST "$(cg /init.scope)"
  proc $L 2 0 kthreadd S 0 1 1 1 "" HOST "$(cg /)"
  proc $L 3 2 "kworker/0:1-events" I 0 1 2 1 "" HOST "$(cg /)"
  proc $L 100 1 dockerd S 0 12 500 0 "/usr/sbin/dockerd|-H|fd://" HOST "$(cg /system.slice/docker.service)"
  proc $L 110 100 containerd S 0 10 520 0 "containerd|--config|/var/run/docker/containerd/containerd.toml" HOST "$(cg /system.slice/docker.service)"
  proc $L 200 1 containerd-shim S 0 11 900 0 "/usr/bin/containerd-shim-runc-v2|-namespace|moby|-id|$CID|-address|/var/run/docker/containerd/containerd.sock" HOST "$(cg /system.slice/docker.service)"
  proc $L 201 200 sh S 0 1 910 0 "/bin/sh|-c|sleep 1000 & wait" CTR "$(cg $dockercg)"
  proc $L 202 201 sleep S 0 1 911 0 "sleep|1000" CTR "$(cg $dockercg)"
  proc $L 300 1 "weird (name) x" S 1000 2 1200 0 "python3|-c|import os; fd=os.open('/proc/1234/ns/net', 0)" HOST "$(cg /user.slice)"
  ln -s "net:[$NETNS_FD]" "$out/$L/proc/300/fd/5"
  proc $L 400 100 defunct Z 0 1 1300 0 "" HOST "$(cg /system.slice/docker.service)"
  # pid 1's mounts: an nsfs mount of a namespace no process is in
  printf '%s\n' \
    "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw" \
    "23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw" \
    "612 22 0:4 net:[$NETNS_HELD] /run/netns/blue rw shared:5 - nsfs nsfs rw" >"$out/$L/proc/1/mountinfo"
  for p in 2 3 100 110 200 300; do cp "$out/$L/proc/1/mountinfo" "$out/$L/proc/$p/mountinfo"; done
  printf '%s\n' "22 1 0:50 / / rw,relatime - overlay overlay rw" "23 22 0:51 / /proc rw - proc proc rw" >"$out/$L/proc/201/mountinfo"
  cp "$out/$L/proc/201/mountinfo" "$out/$L/proc/202/mountinfo"

  # cgroupfs
  c=$out/$L/cgroup
  group() { # hierarchy-dir path procs...
    local dir=$1/${2#/}; shift 2
    mkdir -p "$dir"; : >"$dir/cgroup.procs"
    for p in "$@"; do echo "$p" >>"$dir/cgroup.procs"; done
    echo "$dir"
  }
  if [ $L = v2 ]; then
    r=$(group $c / 1 2 3)
    echo "cpuset cpu io memory hugetlb pids rdma misc" >"$r/cgroup.controllers"
    printf 'usage_usec 9000000\nuser_usec 6000000\nsystem_usec 3000000\n' >"$r/cpu.stat"
    printf 'some avg10=0.10 avg60=0.05 avg300=0.01 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=6543\n' >"$r/memory.pressure"
    for g in /init.scope /system.slice /system.slice/docker.service /user.slice "/system.slice/docker-$CID.scope"; do
      case $g in
        /init.scope) d=$(group $c $g 1);;
        /system.slice/docker.service) d=$(group $c $g 100 110 200);;
        /user.slice) d=$(group $c $g 300);;
        *docker-*) d=$(group $c $g 201 202);;
        *) d=$(group $c $g);;
      esac
      echo "cpu io memory pids" >"$d/cgroup.controllers"
      printf 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 700\n' >"$d/cpu.stat"
      echo "max 100000" >"$d/cpu.max"; echo max >"$d/memory.max"; echo max >"$d/memory.swap.max"; echo max >"$d/pids.max"
      echo 1048576 >"$d/memory.current"; echo 2097152 >"$d/memory.peak"; echo 3 >"$d/pids.current"
      printf 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n' >"$d/memory.events"
      printf 'anon 524288\nfile 524288\ninactive_file 262144\n' >"$d/memory.stat"
      printf 'some avg10=0.00 avg60=0.00 avg300=0.00 total=10\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5\n' >"$d/memory.pressure"
    done
    d=$c/system.slice/docker-$CID.scope
    echo 8388608 >"$d/memory.max"; echo 16777216 >"$d/memory.swap.max"; echo 50 >"$d/pids.max"; echo "50000 100000" >"$d/cpu.max"
    printf 'low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n' >"$d/memory.events"
    continue
  fi
  for h in cpu cpuacct memory pids systemd; do
    hd=$c/$h
    group $hd / 1 2 3 >/dev/null
    for g in /init.scope /system.slice/docker.service /user.slice /docker "/docker/$CID"; do
      case $g in
        /init.scope) d=$(group $hd $g 1);;
        /system.slice/docker.service) d=$(group $hd $g 100 110 200);;
        /user.slice) d=$(group $hd $g 300);;
        /docker/*) d=$(group $hd $g 201 202);;
        *) d=$(group $hd $g);;
      esac
    done
  done
  ln -s cpu "$c/cpu,cpuacct"   # systemd hosts link the pair; must not be read twice
  for d in $(find $c/memory -type d); do
    echo 9223372036854771712 >"$d/memory.limit_in_bytes"; echo 9223372036854771712 >"$d/memory.memsw.limit_in_bytes"
    echo 1048576 >"$d/memory.usage_in_bytes"; echo 2097152 >"$d/memory.max_usage_in_bytes"; echo 0 >"$d/memory.failcnt"
    printf 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n' >"$d/memory.oom_control"
    printf 'cache 524288\nrss 524288\ntotal_inactive_file 262144\n' >"$d/memory.stat"
  done
  for d in $(find $c/cpu -type d); do
    echo -1 >"$d/cpu.cfs_quota_us"; echo 100000 >"$d/cpu.cfs_period_us"
    printf 'nr_periods 10\nnr_throttled 2\nthrottled_time 700000\n' >"$d/cpu.stat"
  done
  for d in $(find $c/cpuacct -type d); do echo 1500000 >"$d/cpuacct.usage"; done
  for d in $(find $c/pids -mindepth 1 -type d); do echo max >"$d/pids.max"; echo 3 >"$d/pids.current"; done
  m=$c/memory/docker/$CID
  echo 8388608 >"$m/memory.limit_in_bytes"; echo 16777216 >"$m/memory.memsw.limit_in_bytes"
  printf 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n' >"$m/memory.oom_control"
  echo 50 >"$c/pids/docker/$CID/pids.max"; echo 50000 >"$c/cpu/docker/$CID/cpu.cfs_quota_us"
  if [ $L = hybrid ]; then
    u=$(group $c/unified / 1 2 3)
    echo "hugetlb" >"$u/cgroup.controllers"
    printf 'usage_usec 9000000\nuser_usec 6000000\nsystem_usec 3000000\n' >"$u/cpu.stat"
    for g in /init.scope /system.slice/docker.service /user.slice "/docker/$CID"; do
      d=$(group $c/unified $g); : >"$d/cgroup.controllers"
      printf 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n' >"$d/cpu.stat"
    done
  fi
done
echo "fixtures written under $(pwd)/$out"

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
# (scripts/build.sh: static, launch binary embedded, version stamped): every benchmark
# measures the code it runs beside, never a stale binary, and the binary
# users get (bin/nsagent, which some of them write, stays a proper build).
build_nsagent() {
  scripts/build.sh "$1"
}

# wait_quiet waits (up to 90 s) until the machine has been at least 85%
# idle over a 2 s window with no task in uninterruptible sleep, and prints
# what it found. The previous
# benchmark's load leaves the kernel dismantling a few hundred namespaces
# for tens of seconds (network namespaces go through a slow work queue);
# that work takes a core from a 2-core machine, and hurts a tool that
# scans on both cores more than a single-threaded one, so paired rounds
# alone do not cancel it.
wait_quiet() {
  local waited=0 idle a b blocked
  while :; do
    read -r _ a1 a2 a3 a4 a5 a6 a7 a8 _ </proc/stat
    sleep 2
    read -r _ b1 b2 b3 b4 b5 b6 b7 b8 _ </proc/stat
    a=$((a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8)) b=$((b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8))
    idle=$(((b4 + b5 - a4 - a5) * 100 / (b - a)))
    waited=$((waited + 2))
    blocked=$(awk '$1 == "procs_blocked" {print $2}' /proc/stat)
    if { [ "$idle" -ge 85 ] && [ "$blocked" -eq 0 ]; } || [ "$waited" -ge 90 ]; then
      echo "quiet: ${idle}% idle over 2 s, $blocked tasks blocked, after ${waited} s"
      return
    fi
  done
}

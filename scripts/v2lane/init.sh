#!/bin/sh
# /init of the cgroup v2 lane's initramfs (busybox sh, PID 1 in the guest).
#
# Stage 1 copies the initramfs into a tmpfs and switch_roots into it: the
# initramfs root (rootfs) cannot be pivot_root'ed away, and a launcher under
# test must be able to pivot_root inside its mount namespace as on a host.
# Stage 2 mounts what a host has (proc, sys, devtmpfs, tmpfs, cgroup2 with
# nsdelegate), enables +memory +pids +cpu for child cgroups, loads the
# modules the tests need, runs every test binary with the kernel command
# line's arguments after "--", and prints the result marker that
# scripts/v2lane/run.sh reads from the serial log, then powers off.
#
# The kernel passes NSAGENT_V2LANE=1 and V2LANE_NONCE=<random> from its
# command line into this script's environment. The nonce is in the marker
# so that nothing but this script can print a marker the host accepts.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

marker() { echo "V2LANE-RESULT $V2LANE_NONCE status=$1"; }
die() {
	echo "v2lane: setup failed: $*"
	marker setup-failed
	/bin/busybox sync
	/bin/busybox poweroff -f
}

if [ ! -e /.stage2 ]; then
	/bin/busybox mount -t proc proc /proc && echo "v2lane: /init at uptime $(/bin/busybox cat /proc/uptime)" && /bin/busybox umount /proc
	/bin/busybox mkdir -p /newroot
	/bin/busybox mount -t tmpfs -o mode=0755 newroot /newroot || die "tmpfs for the new root"
	for f in /*; do
		[ "$f" = /newroot ] && continue
		/bin/busybox cp -a "$f" /newroot/ || die "copy $f to the new root"
	done
	/bin/busybox touch /newroot/.stage2
	exec /bin/busybox switch_root /newroot /init "$@"
	die "switch_root"
fi

/bin/busybox --install -s
mkdir -p /proc /sys /dev /tmp /run /root
mount -t proc proc /proc || die "mount proc"
mount -t sysfs sysfs /sys || die "mount sysfs"
mount -t devtmpfs devtmpfs /dev || die "mount devtmpfs"
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts || die "mount devpts"
mount -t tmpfs -o mode=1777 shm /dev/shm || die "mount /dev/shm"
mount -t tmpfs -o mode=1777 tmp /tmp || die "mount /tmp"
mount -t tmpfs -o mode=0755 run /run || die "mount /run"
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || die "mount cgroup2"
echo "+memory +pids +cpu" >/sys/fs/cgroup/cgroup.subtree_control || die "enable +memory +pids +cpu"
ip link set lo up || die "loopback up"
hostname v2lane
if [ -f /lane/modules ]; then
	while read -r ko; do
		insmod "$ko" || die "insmod $ko"
	done </lane/modules
fi

# The guest has no bridge or nftables modules: launches default to --net
# none here; the bridge's tests run on the host.
export CI=true NSAGENT_V2LANE=1 HOME=/root TMPDIR=/tmp NSAGENT_NET=none
[ -x /bin/nsagent ] && export NSAGENT_BIN=/bin/nsagent

echo "v2lane: kernel $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)," \
	"subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control), modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
echo "V2LANE-BEGIN (guest uptime $(cut -d" " -f1 /proc/uptime) s)"
status=0
for t in /lane/tests/*.test; do
	[ -e "$t" ] || continue
	name=${t##*/}
	dir=$(cat "${t%.test}.dir")
	run=
	[ -f "${t%.test}.run" ] && run="-test.run=$(cat "${t%.test}.run")"
	echo "V2LANE-RUN $name (in $dir) $run"
	(cd "$dir" && "$t" "$@" $run)
	rc=$?
	echo "V2LANE-TEST $name rc=$rc"
	[ "$rc" -eq 0 ] || status=1
done
marker "$status"
sync
poweroff -f

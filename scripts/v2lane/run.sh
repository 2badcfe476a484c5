#!/usr/bin/env bash
# The cgroup v2 lane: runs the privileged tests under Debian's 6.1 kernel in
# qemu (software emulation, TCG) with a unified cgroup hierarchy, because
# this host is hybrid and its v1 hierarchies are partly its supervisor's.
#
#   make test-v2                          # default packages
#   V2_PACKAGES="./inventory" V2_RUN=Live make test-v2
#
# Settings (environment):
#   V2_PACKAGES   packages whose test binaries run in the guest
#                 (default "./scripts/v2lane/selftest ./inventory/...
#                 ./launcher/..."). A pattern that matches nothing in this
#                 tree is skipped with a notice. Everything is built with
#                 -tags v2lane (the selftest package exists only with it).
#   V2_RUN        -test.run regexp for every binary (default: all tests)
#   V2_TESTFLAGS  extra test flags, space separated, no quoting
#   V2_MODULES    kernel modules to insmod in the guest, with their
#                 dependencies (default "veth")
#   V2_HOST_BINS  host commands shipped with their shared libraries into
#                 /usr/local/bin (default "ip unshare nsenter lsns"); busybox
#                 applets cover the rest
#   V2_NSAGENT    build ./cmd/nsagent into the guest's /bin/nsagent (1, default)
#   V2_TIMEOUT    seconds before the guest is killed (default 300)
#   V2_ALLOW_SKIP 1 lets tests skip for reasons other than "not this layout"
#   V2_KEEP       1 keeps the work directory (initramfs, serial log)
#   V2LANE_CACHE  kernel cache (default ~/.cache/nsagent/v2lane)
#
# Contract with the tests (see internal/testutil/cgroup.go): the guest runs
# each binary as root with CI=true, NSAGENT_V2LANE=1 and, when built,
# NSAGENT_BIN=/bin/nsagent, in a copy of its package directory's testdata
# (cwd /src/<package dir>), with cgroup2 at /sys/fs/cgroup (+memory +pids +cpu
# in the root's subtree_control), /bin/busybox, and a tmpfs root that
# pivot_root works under.
#
# The result is read from the serial log, not from qemu's exit status: no
# marker from the guest's /init means failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=scripts/v2lane

GO=${GO:-go}
command -v "$GO" >/dev/null || GO=/usr/local/go/bin/go
# A PATTERN@REGEXP entry runs only the matching tests of those packages:
# cmd/nsagent's launcher tests run in the lane, its Docker ones cannot.
# launcher/bridge stays on the host: its tests check the host's nftables
# and iptables rules, tools the guest does not have (veth itself is
# exercised by the selftest and the launcher's --net none tests).
packages=${V2_PACKAGES:-./scripts/v2lane/selftest ./inventory/...@TestReadCgroupsLive|Fixture|Golden|Parse ./launcher ./cmd/nsagent@TestLaunch(Isolation|LimitsHostSide|InteractiveUnder4M|OOMKilled|PidsStopsForkLoop|ExitStatuses|SignalForwarded|KilledBySignal|MountsUserEnv|HostNamespaces|UsesLaunchBinary)$|TestExecPsKillRm|TestGCAfterLauncherKilled|TestContainersListsWorkload}
modules=${V2_MODULES:-veth overlay}
host_bins=${V2_HOST_BINS-ip unshare nsenter lsns}
timeout=${V2_TIMEOUT:-300}

say() { echo "v2lane: $*"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
t_start=$EPOCHREALTIME

for cmd in qemu-system-x86_64 dpkg-deb apt-get; do
  command -v "$cmd" >/dev/null || { say "needs $cmd (make deps installs it)"; exit 1; }
done
# (No grep -q on a pipe here: under pipefail its early exit fails busybox.)
[[ -x /bin/busybox ]] && [[ $(/bin/busybox --list) == *$'\n'cpio$'\n'* ]] ||
  { say "needs busybox-static at /bin/busybox (make deps installs it)"; exit 1; }

kdir=$("$here/kernel.sh")
release=$(cat "$kdir/release")
kernel=$kdir/vmlinuz
[[ -f $kdir/vmlinux ]] && kernel=$kdir/vmlinux

work=$(mktemp -d /tmp/nsagent-v2lane.XXXXXX)
if [[ ${V2_KEEP:-} == 1 ]]; then
  say "keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi
stage=$work/root
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,proc,sys,dev,tmp,run,root,lane/tests,src}

# ship_elf copies an executable to the stage and, if it is dynamically
# linked, the shared libraries and loader ldd names, at the same paths.
ship_elf() {
  local src=$1 dst=$2 lib
  install -D -m 0755 "$src" "$stage$dst"
  if ldd "$src" >/dev/null 2>&1; then
    while read -r lib; do
      [[ -e $stage$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$stage$lib"
    done < <(ldd "$src" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
  fi
}

# build compiles a test binary (test=1) or a command statically with
# CGO_ENABLED=0; a package that needs cgo (libseccomp) is built with cgo
# instead and shipped with its shared libraries by ship_elf.
build() {
  local pkg=$1 out=$2 test=$3 log=$work/build.log
  local args=(build -tags v2lane -o "$out")
  [[ $test == 1 ]] && args=(test -c -tags v2lane -o "$out")
  # (go test -c reports a failed setup on stdout, hence both streams.)
  if CGO_ENABLED=0 "$GO" "${args[@]}" "$pkg" >"$log" 2>&1; then
    return 0
  fi
  if CGO_ENABLED=1 "$GO" "${args[@]}" "$pkg" >"$log.cgo" 2>&1; then
    say "$pkg does not build with CGO_ENABLED=0; built with cgo, shipping its shared libraries"
    return 0
  fi
  say "build $pkg failed:"; cat "$log" "$log.cgo"
  return 1
}

# Test binaries.
t_build=$EPOCHREALTIME
nbin=0
for entry in $packages; do
  pat=${entry%%@*}
  runre=
  [[ $entry == *@* ]] && runre=${entry#*@}
  if ! list=$("$GO" list -tags v2lane -f '{{.ImportPath}} {{.Dir}} {{len .TestGoFiles}} {{len .XTestGoFiles}}' "$pat" 2>"$work/list.err"); then
    if grep -q 'no such file or directory\|directory not found\|matched no packages' "$work/list.err"; then
      say "NOTICE: skipping $pat: not in this tree yet ($(head -1 "$work/list.err"))"
      continue
    fi
    say "go list $pat failed:"; cat "$work/list.err"; exit 1
  fi
  while read -r ipath dir nt nx; do
    rel=${dir#"$PWD"/}
    if ((nt + nx == 0)); then
      say "NOTICE: $ipath has no tests"
      continue
    fi
    name=${rel//\//_}
    build "$ipath" "$work/$name.test" 1
    ship_elf "$work/$name.test" "/lane/tests/$name.test"
    echo "/src/$rel" >"$stage/lane/tests/$name.dir"
    [[ -n $runre ]] && echo "$runre" >"$stage/lane/tests/$name.run"
    mkdir -p "$stage/src/$rel"
    [[ -d $dir/testdata ]] && cp -a "$dir/testdata" "$stage/src/$rel/"
    nbin=$((nbin + 1))
  done <<<"$list"
done
((nbin > 0)) || { say "no test binaries to run (V2_PACKAGES=$packages)"; exit 1; }

if [[ ${V2_NSAGENT:-1} == 1 ]]; then
  if [[ -d cmd/nsagent ]]; then
    # As users get it (launch binary included): static, so ship_elf
    # copies it alone.
    GO=$GO scripts/build.sh "$work/nsagent" >"$work/build.log" 2>&1 || { say "build ./cmd/nsagent failed:"; cat "$work/build.log"; exit 1; }
    ship_elf "$work/nsagent" /bin/nsagent
  else
    say "NOTICE: no ./cmd/nsagent, /bin/nsagent not shipped"
  fi
fi
t_built=$EPOCHREALTIME

# Busybox, host tools, modules, /init.
install -m 0755 /bin/busybox "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
mknod -m 0600 "$stage/dev/console" c 5 1
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$stage/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$stage/etc/group"
for b in $host_bins; do
  if p=$(command -v "$b"); then
    ship_elf "$(readlink -f "$p")" "/usr/local/bin/$b"
  else
    say "NOTICE: host command $b not found, the guest has busybox's if any"
  fi
done

# Module dependencies come from each .ko's .modinfo "depends=" (the
# package ships no modules.dep and the host has no depmod); a module is
# listed after the ones it depends on so insmod can load them in order.
declare -A loaded=()
: >"$stage/lane/modules"
add_module() {
  local n=${1//-/_} f deps d rel
  [[ -n ${loaded[$n]:-} ]] && return 0
  f=$(awk -v n="$n" '$1 == n { print $2; exit }' "$kdir/ko-index")
  if [[ -z $f ]]; then
    grep -q "/${1}.ko" "$kdir/modules/modules.builtin" 2>/dev/null && return 0
    say "module $1 not found in $release"; return 1
  fi
  loaded[$n]=1
  rel=$f f=$kdir/modules/$f
  mkdir -p "$stage/lib/modules/$release/$(dirname "$rel")"
  case $f in
    *.ko.xz) xz -dc "$f" >"$stage/lib/modules/$release/${rel%.xz}"; rel=${rel%.xz} ;;
    *.ko.zst) zstd -qdc "$f" >"$stage/lib/modules/$release/${rel%.zst}"; rel=${rel%.zst} ;;
    *) cp "$f" "$stage/lib/modules/$release/$rel" ;;
  esac
  # (awk reads to the end: a reader that quits early would SIGPIPE tr and,
  # under pipefail, fail the lane now and then.)
  deps=$(tr '\0' '\n' <"$stage/lib/modules/$release/$rel" | awk -F= '/^depends=/ && !seen { print $2; seen = 1 }')
  for d in ${deps//,/ }; do add_module "$d"; done
  echo "/lib/modules/$release/$rel" >>"$stage/lane/modules"
}
for m in $modules; do add_module "$m"; done

install -m 0755 "$here/init.sh" "$stage/init"
(cd "$stage" && find . -mindepth 1 | /bin/busybox cpio -o -H newc 2>/dev/null) >"$work/initramfs.cpio"
t_packed=$EPOCHREALTIME

# Boot. Each serial line is timestamped as it arrives so the log tells
# boot time from test time.
nonce=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Each binary's own timeout fires before the guest's, so a hung test
# panics with its goroutines in the log instead of vanishing with qemu.
flags="-test.v -test.count=1 -test.timeout=$((timeout > 60 ? timeout - 30 : timeout))s"
[[ -n ${V2_RUN:-} ]] && flags+=" -test.run=$V2_RUN"
[[ -n ${V2_TESTFLAGS:-} ]] && flags+=" $V2_TESTFLAGS"
append="console=ttyS0 loglevel=1 panic=-1 edd=off NSAGENT_V2LANE=1 V2LANE_NONCE=$nonce -- $flags"
say "kernel $release (${kernel##*/}), $nbin test binaries, initramfs $(($(stat -c %s "$work/initramfs.cpio") / 1024 / 1024)) MiB, booting (timeout ${timeout}s)"
log=$work/serial.log
t_boot=$EPOCHREALTIME
t_first=
set +e
timeout -k 5 "$timeout" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 1024 \
  -nographic -no-reboot -nodefaults -serial stdio -net none \
  -kernel "$kernel" -initrd "$work/initramfs.cpio" -append "$append" </dev/null 2>&1 |
  while IFS= read -r line; do
    line=${line%$'\r'}
    [[ $line == V2LANE-BEGIN* ]] && echo "V2LANE-TIME first-test $(secs "$t_boot" "$EPOCHREALTIME")" >>"$log.times"
    printf '%s\n' "$line" >>"$log"
    [[ ${V2_QUIET:-} == 1 ]] || printf '  | %s\n' "$line"
  done
qrc=${PIPESTATUS[0]}
set -e
t_end=$EPOCHREALTIME
touch "$log"

first=$(awk '{print $3}' "$log.times" 2>/dev/null || true)

# Counts of top-level tests and subtests, and skips with their reasons.
read -r pass fail skip top < <(awk '
  /^ *--- PASS:/ { p++ } /^ *--- FAIL:/ { f++ } /^ *--- SKIP:/ { s++ }
  /^--- (PASS|FAIL|SKIP):/ { t++ }
  END { print p+0, f+0, s+0, t+0 }' "$log")
badskips=$(awk '
  /^=== / { buf = ""; next }
  /^ *--- SKIP:/ { if (buf !~ /applies to cgroup layout/) print $3 ":" (buf == "" ? " (no reason logged)" : buf); buf = ""; next }
  /^ +[^ -]/ { line = $0; sub(/^ +/, " ", line); buf = buf line }' "$log")

nbad=0
[[ -n $badskips ]] && nbad=$(grep -c . <<<"$badskips")
say "$((pass + fail + skip)) tests ($top top-level) in $nbin binaries: $pass passed, $fail failed, $skip skipped" \
  "($((skip - nbad)) as not for a v2 layout, $nbad for lack of something)"
say "wall $(secs "$t_start" "$t_end") s: build $(secs "$t_build" "$t_built") s, pack $(secs "$t_built" "$t_packed") s," \
  "guest $(secs "$t_boot" "$t_end") s (first test at ${first:-?} s)"

ok=1
if grep -q "^V2LANE-RESULT $nonce status=0\$" "$log"; then
  :
elif grep -q "^V2LANE-RESULT $nonce status=" "$log"; then
  say "FAIL: $(grep "^V2LANE-TEST .* rc=[^0]" "$log" | sed 's/^V2LANE-TEST //' | tr '\n' ' ')$(grep -h "^v2lane: setup failed" "$log" || true)"
  # Each failed test with the lines it logged: -test.v streams them
  # between its "=== RUN" (or "=== CONT") and its "--- FAIL".
  awk '/^=== / { buf = ""; next }
    /^ *--- FAIL:/ { printf "%s  %s\n", buf, $0; buf = ""; next }
    /^ +[^ -]/ { buf = buf "  " $0 "\n" }' "$log"
  ok=0
else
  say "FAIL: no result marker from the guest (qemu exit $qrc$( ((qrc == 124)) && echo ", timed out after ${timeout}s")); last lines of the serial log:"
  tail -n 40 "$log" | sed 's/^/  | /'
  ok=0
fi
if [[ -n $badskips && ${V2_ALLOW_SKIP:-} != 1 ]]; then
  say "FAIL: tests skipped in the lane (every cgroup test must run here):"
  echo "$badskips" | sed 's/^/  /'
  ok=0
fi
((ok)) && say PASS || { say FAIL; exit 1; }

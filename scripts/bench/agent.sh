#!/usr/bin/env bash
# agent.sh: the cost of `nsagent serve` against the exporters it replaces,
# side by side in one run on one load:
#
#   - CPU seconds per scrape (utime+stime deltas of the server's pid over
#     N scrapes) and scrape latency (median, p99) of nsagent,
#     prometheus-process-exporter (grouping every process) and
#     prometheus-node-exporter, scraped in turn;
#   - nsagent's background CPU between scrapes, and its average share of
#     one core at a 15 s scrape interval;
#   - nsagent's cold first scan against util-linux lsns (paired, medians);
#   - nsagent's RSS and series count on this load and at 10,000 processes.
#
# Each scrape makes nsagent scan afresh (--scan.min-interval=1ns): no scrape
# is answered from an earlier one, as with a single Prometheus at 15 s.
# The load is scripts/bench/loadgen (200 unshare sets: ~2,200 processes in
# ~1,300 namespaces) plus three Docker containers; everything the script
# starts is stopped by pid, and its containers are removed by id.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin

N=${N:-30}         # scrapes per exporter
COLD=${COLD:-5}    # paired cold-scan runs
BIG=${BIG:-10000}  # processes for the RSS measurement

work=$(mktemp -d /tmp/nsagent-bench-agent.XXXXXX)
pids=()
containers=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
  scripts/bench/loadgen/loadgen.sh stop "$work/load-big" >/dev/null 2>&1
  scripts/bench/loadgen/loadgen.sh stop "$work/load" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

build_nsagent "$work/nsagent"

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cputicks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
wait_http() {
  for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "bench: $1 did not answer" >&2; return 1
}
nprocs() { ls /proc | grep -c '^[0-9]*$'; }
hz=$(getconf CLK_TCK)

# --- load ------------------------------------------------------------------
scripts/bench/loadgen/loadgen.sh start "$work/load" 200 9
image=nsagent-test/busybox:latest
if ! docker image inspect "$image" >/dev/null 2>&1; then
  mkdir -p "$work/rootfs/bin"
  cp /bin/busybox "$work/rootfs/bin/busybox"
  for a in sh sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
  tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
  docker import "$work/rootfs.tar" "$image" >/dev/null
fi
for i in 1 2 3; do
  containers+=("$(docker run -d --memory 64m --pids-limit 100 "$image" sleep 86400)")
done
nproc_host=$(nprocs)
echo "load: $nproc_host processes on the host, $(lsns -n -o NS | wc -l) namespaces with processes (lsns), ${#containers[@]} bench containers"

# --- the three servers ---------------------------------------------------------
pa=$(freeport); pp=$(freeport); pn=$(freeport)
"$work/nsagent" serve --web.listen-address="127.0.0.1:$pa" --scan.min-interval=1ns --log.level=warn 2>"$work/nsagent.log" &
pids+=($!); agent_pid=$!
cat >"$work/pe.yml" <<'EOF'
process_names:
  - name: "{{.Comm}}"
    cmdline: ['.*']
EOF
prometheus-process-exporter -web.listen-address="127.0.0.1:$pp" -config.path="$work/pe.yml" 2>"$work/pe.log" &
pids+=($!); pe_pid=$!
prometheus-node-exporter --web.listen-address="127.0.0.1:$pn" 2>"$work/ne.log" &
pids+=($!); ne_pid=$!
wait_http "http://127.0.0.1:$pa/healthz"
wait_http "http://127.0.0.1:$pp/metrics"
wait_http "http://127.0.0.1:$pn/metrics"

# One warm-up scrape each (nsagent's is its cold, full scan).
for u in "$pa/metrics" "$pp/metrics" "$pn/metrics"; do curl -sf -o /dev/null "http://127.0.0.1:$u"; done
sleep 1

# --- CPU per scrape and latency, scraped in turn --------------------------------
declare -A port=([nsagent]=$pa [process-exporter]=$pp [node-exporter]=$pn)
declare -A pid=([nsagent]=$agent_pid [process-exporter]=$pe_pid [node-exporter]=$ne_pid)
declare -A cpu0
for t in nsagent process-exporter node-exporter; do cpu0[$t]=$(cputicks "${pid[$t]}"); : >"$work/lat-$t"; done
for ((i = 0; i < N; i++)); do
  for t in nsagent process-exporter node-exporter; do
    curl -sf -o "$work/scrape-$t" -w '%{time_total}\n' "http://127.0.0.1:${port[$t]}/metrics" >>"$work/lat-$t"
  done
  sleep 0.2
done
declare -A cpu_ms
for t in nsagent process-exporter node-exporter; do
  cpu_ms[$t]=$(python3 -c "print(($(cputicks "${pid[$t]}") - ${cpu0[$t]}) * 1000 / $hz / $N)")
done

# Background: nsagent's CPU over an interval with no scrapes (the proc
# connector's events, timers, GC).
idle=15
b0=$(cputicks "$agent_pid"); sleep $idle; b1=$(cputicks "$agent_pid")
bg_ms=$(python3 -c "print(($b1 - $b0) * 1000 / $hz)")
series=$(grep -vc '^#' "$work/scrape-nsagent")
series_pe=$(grep -vc '^#' "$work/scrape-process-exporter")
series_ne=$(grep -vc '^#' "$work/scrape-node-exporter")
rss_agent=$(rss_kib "$agent_pid")
scan_kind=$(grep -E '^nsagent_(scan_scans_total|scan_processes_(reused|read)_total|proc_connector_up)' "$work/scrape-nsagent" | tr '\n' ' ')

echo
echo "scrapes: $N per exporter, in turn; CPU from /proc/<pid>/stat utime+stime (USER_HZ=$hz)"
printf '%-18s %12s %12s %12s %8s\n' exporter cpu_ms/scrape lat_p50_ms lat_p99_ms series
for t in nsagent process-exporter node-exporter; do
  python3 - "$work/lat-$t" "$t" "${cpu_ms[$t]}" "$(grep -vc '^#' "$work/scrape-$t")" <<'EOF'
import sys, statistics
lat = sorted(float(x) * 1000 for x in open(sys.argv[1]) if x.strip())
p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
print(f"{sys.argv[2]:<18} {float(sys.argv[3]):12.1f} {statistics.median(lat):12.1f} {p99:12.1f} {sys.argv[4]:>8}")
EOF
done
python3 - <<EOF
a, pe, ne, bg, idle = ${cpu_ms[nsagent]}, ${cpu_ms[process-exporter]}, ${cpu_ms[node-exporter]}, $bg_ms, $idle
print(f"nsagent / process-exporter CPU per scrape: {a/pe:.3f}x (target <= 0.1x)" if pe > 0 else "process-exporter used no CPU?")
print(f"nsagent / node-exporter CPU per scrape:    {a/ne:.2f}x" if ne > 0 else "node-exporter CPU below clock resolution")
print(f"nsagent background CPU: {bg:.0f} ms over {idle} s without scrapes")
avg = (a + bg / idle * 15) / 15 / 1000 * 100
print(f"nsagent average at a 15 s scrape interval, background included: {avg:.3f}% of one core (target <= 0.5%)")
EOF
echo "nsagent scan counters: $scan_kind"
echo "nsagent RSS: $((rss_agent / 1024)) MiB at $nproc_host processes; series: nsagent $series, process-exporter $series_pe, node-exporter $series_ne"

# --- cold scan against lsns, paired ----------------------------------------------
: >"$work/cold"
for ((i = 0; i < COLD; i++)); do
  p=$(freeport)
  "$work/nsagent" serve --web.listen-address="127.0.0.1:$p" --scan.proc-events=false --log.level=warn 2>>"$work/nsagent.log" &
  cp=$!; pids+=($cp)
  wait_http "http://127.0.0.1:$p/healthz"
  first=$(curl -sf -o "$work/cold-scrape" -w '%{time_total}' "http://127.0.0.1:$p/metrics")
  scan=$(awk '/^nsagent_scan_duration_seconds /{print $2}' "$work/cold-scrape")
  kill -9 $cp; wait $cp 2>/dev/null || true
  l0=$EPOCHREALTIME; lsns >/dev/null; l1=$EPOCHREALTIME
  echo "$first $scan $(python3 -c "print($l1 - $l0)")" >>"$work/cold"
done
python3 - "$work/cold" <<'EOF'
import sys, statistics
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
scrape = statistics.median(r[0] for r in rows) * 1000
scan = statistics.median(r[1] for r in rows) * 1000
lsns = statistics.median(r[2] for r in rows) * 1000
print(f"cold: nsagent first scan {scan:.0f} ms (first scrape {scrape:.0f} ms), util-linux lsns {lsns:.0f} ms; "
      f"scan/lsns {scan/lsns:.2f}x, first scrape/lsns {scrape/lsns:.2f}x (target <= 0.25x), medians of {len(rows)} paired runs")
EOF

# --- RSS at BIG processes ----------------------------------------------------------
# Plain sleeps in a pids cgroup of the bench's own (created and removed
# here; its members are only what this subshell started), so removal is
# exact: SIGKILL every pid the cgroup lists, then rmdir.
have=$(nprocs)
more=$((BIG - have))
if ((more > 0)); then
  bigcg=/sys/fs/cgroup/pids/nsagent-bench-agent-big-$$
  mkdir "$bigcg"
  stop_big() {
    for _ in 1 2 3; do
      while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$bigcg/cgroup.procs"
      sleep 0.5
      [ -s "$bigcg/cgroup.procs" ] || break
    done
    rmdir "$bigcg" 2>/dev/null || true
  }
  trap 'stop_big; cleanup' EXIT
  (
    echo "$BASHPID" >"$bigcg/cgroup.procs"
    for ((i = 0; i < more; i++)); do sleep 86400 </dev/null >/dev/null 2>&1 & done
  )
  for _ in $(seq 600); do
    (($(wc -l <"$bigcg/cgroup.procs") >= more)) && break
    sleep 0.1
  done
  for _ in 1 2 3; do curl -sf -o "$work/scrape-big" "http://127.0.0.1:$pa/metrics"; done
  nbig=$(nprocs)
  echo "RSS: nsagent $(($(rss_kib "$agent_pid") / 1024)) MiB at $nbig processes (target <= 40 MiB at 10,000); series $(grep -vc '^#' "$work/scrape-big");" \
    "Go heap in use $(awk '/^go_memstats_heap_inuse_bytes /{printf "%.0f", $2/1048576}' "$work/scrape-big") MiB"
  stop_big
  trap cleanup EXIT
fi

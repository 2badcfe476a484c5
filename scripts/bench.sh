#!/usr/bin/env bash
# make bench: runs every benchmark script in scripts/bench/ in order. Each
# builds its own load, measures nsagent against the reference tool in the
# same run (paired runs, medians), prints ratios, and removes its load.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
scripts/services.sh start
trap 'scripts/services.sh stop' EXIT
status=0
for b in scripts/bench/*.sh; do
  [ -e "$b" ] || continue
  [ "$(basename "$b")" = lib.sh ] && continue
  echo "=== $(basename "$b" .sh)"
  bash "$b" || { echo "bench $(basename "$b") failed" >&2; status=1; }
done
exit $status

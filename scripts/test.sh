#!/usr/bin/env bash
# Runs every test against real components: starts the servers the tests use,
# runs go test, and stops what it started, whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests' temporary files (built binaries, root filesystems) go in one
# directory that is removed at the end, so nothing is left in /tmp.
TMPDIR=$(mktemp -d /tmp/nsagent-test-run.XXXXXX)
# Searchable by others: --userns tests keep a root filesystem in here that
# the workload's mapped root (an unprivileged host uid) must reach.
chmod 0755 "$TMPDIR"
export TMPDIR
scripts/services.sh start
trap 'scripts/services.sh stop; rm -rf "$TMPDIR"' EXIT
go test -count=1 -timeout 40m "$@" ./...

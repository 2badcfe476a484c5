#!/usr/bin/env bash
# Runs every test against real components: starts the servers the tests use,
# runs go test, and stops what it started, whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start
trap 'scripts/services.sh stop' EXIT
go test -count=1 -timeout 40m "$@" ./...

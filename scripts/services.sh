#!/usr/bin/env bash
# Starts (start) and stops (stop) the servers the tests use: a real dockerd.
# Only what this script started is stopped, by the pid it recorded.
set -euo pipefail
state=/run/nsagent-test
mkdir -p "$state"

start_dockerd() {
  if [ -S /var/run/docker.sock ] && docker version >/dev/null 2>&1; then
    echo "services: dockerd already running; using it"
    return
  fi
  # Debian's docker.io defaults; cgroupfs driver (no systemd here).
  dockerd --exec-opt native.cgroupdriver=cgroupfs >"$state/dockerd.log" 2>&1 &
  echo $! >"$state/dockerd.pid"
  for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && { echo "services: dockerd up (pid $(cat "$state/dockerd.pid"))"; return; }
    sleep 0.5
  done
  echo "services: dockerd did not come up; log:" >&2
  tail -30 "$state/dockerd.log" >&2
  exit 1
}

stop_pidfile() {
  local f=$1
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$f"
}

case "${1:-}" in
  start) start_dockerd ;;
  stop)
    if [ -f "$state/dockerd.pid" ]; then
      # Containers the tests left (they remove their own) go before dockerd.
      docker ps -aq --filter label=nsagent-test | xargs -r docker rm -f >/dev/null 2>&1 || true
    fi
    stop_pidfile "$state/dockerd.pid"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

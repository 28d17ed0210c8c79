#!/usr/bin/env bash
# Stops a stack deploy/native/up.sh started, by the pids it recorded in STATE_DIR/pids — never by
# name — in the reverse order of compose's start order: workers, codec endpoint, UI, Temporal,
# then Postgres (a fast shutdown: open transactions are rolled back, nothing committed is lost).
#   deploy/native/down.sh STATE_DIR [SERVICE...]   # e.g. `temporal` alone, to restart it
# The data stays in STATE_DIR (up.sh starts on it again); remove the directory to drop it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
die() { echo "down.sh: $*" >&2; exit 1; }
# shellcheck source=deploy/native/pids.sh
. "$here/pids.sh"

[ $# -ge 1 ] && [ -d "$1" ] || die "usage: down.sh STATE_DIR [SERVICE...] (STATE_DIR as given to up.sh)"
STATE="$(cd "$1" && pwd)"
shift
[ -d "$STATE/pids" ] || die "$STATE has no pids/: not a state directory of up.sh"

stop() { # service signal seconds
  local pid start left
  start=$(date +%s%N)
  pid=$(recorded_pid "$1") || { rm -f "$STATE/pids/$1.pid"; return 0; }
  kill "-$2" "$pid" 2>/dev/null || true
  for ((left = $3 * 10; left > 0; left--)); do
    is_running "$1" || break
    sleep 0.1
  done
  if is_running "$1"; then
    echo "down.sh: $1 (pid $pid) still running after $3 s: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while is_running "$1"; do sleep 0.1; done
  fi
  rm -f "$STATE/pids/$1.pid"
  printf 'down.sh: %-16s pid %-7s stopped in %.1f s\n' "$1" "$pid" "$(( $(date +%s%N) - start ))e-9" >&2
}

services=("$@")
if [ ${#services[@]} -eq 0 ]; then
  for f in "$STATE"/pids/petrel-worker-*.pid; do [ -e "$f" ] && services+=("$(basename "$f" .pid)"); done
  services+=(petrel-codec temporal-ui temporal postgres)
fi
for s in "${services[@]}"; do
  case "$s" in
    postgres) stop postgres INT 60 ;;   # SIGINT: Postgres' fast shutdown
    temporal) stop temporal TERM 30 ;;
    petrel-worker-*) stop "$s" TERM 70 ;; # the worker lets activities finish (compose: stop_grace_period 60s)
    temporal-ui | petrel-codec) stop "$s" TERM 15 ;;
    *) die "unknown service $s (postgres, temporal, temporal-ui, petrel-codec, petrel-worker-N)" ;;
  esac
done

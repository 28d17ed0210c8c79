# shellcheck shell=bash
# Shared by up.sh and down.sh (sourced): the processes of a native stack, recorded in
# $STATE/pids/<service>.pid as "<pid> <start time>". The start time (field 22 of
# /proc/<pid>/stat) tells a live process from another that got the same pid later, so down.sh
# only ever signals what up.sh started.

start_time() { # pid
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # fields after "(comm) ": state is the 1st, start time the 20th
  # shellcheck disable=SC2086 # split into fields on purpose
  set -- ${stat##*) }
  [ "$1" != Z ] && [ "$1" != X ] || return 1
  echo "${20}"
}

record_pid() { # service pid
  local t
  t=$(start_time "$2") || die "$1: process $2 is not running"
  echo "$2 $t" > "$STATE/pids/$1.pid"
}

recorded_pid() { # service -> the pid, if that process still runs
  local f="$STATE/pids/$1.pid" pid t now
  [ -f "$f" ] || return 1
  read -r pid t < "$f"
  now=$(start_time "$pid") || return 1
  [ "$now" = "$t" ] || return 1
  echo "$pid"
}

is_running() { recorded_pid "$1" >/dev/null; }

# start_background service command...: in a session of its own (it outlives the shell that
# started it), output appended to $STATE/logs/<service>.log, pid recorded.
start_background() {
  local name=$1
  shift
  echo "--- $(date -Is) $*" >> "$STATE/logs/$name.log"
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
  record_pid "$name" $!
}

// Detached jobs on an SSH node, with the local provider's contract (providers/local/
// detached-jobs.ts): a job directory `<node home>/.petrel/jobs/<key>/` holding script.sh,
// output.log, pid and exit_code, and briefly env.sh (mode 600, removed once the job has read
// it: variables may carry secrets, so they never appear on a command line or linger on disk). A wrapper started under `setsid` records its pid (= the job's
// process group) first, traps TERM/INT/HUP so a cancelled job still records 143, and writes
// exit_code atomically. The directory is created with an exclusive mkdir: a second start of
// the same key attaches instead of running the job twice.
//
// Each operation is one shell script run over the shared connection; paths are passed as
// arguments, and relative ones are relative to the login directory (the remote home).

/** How long a job dir without a pid file counts as "still starting". */
export const START_GRACE_S = 5;

export const JOBS_SUBDIR = '.petrel/jobs';

// $1 = job dir (absolute), $2 = working directory (absolute)
const WRAPPER = [
  'cd "$1" || exit 1',
  'echo $$ > pid.tmp && mv pid.tmp pid',
  "trap 'petrel_signalled=1' TERM INT HUP",
  // env.sh may carry secrets: it is read once and removed (a second start attaches, never reruns)
  '( . ./env.sh && rm -f ./env.sh && cd "$2" && exec bash "$1/script.sh" )',
  'code=$?',
  'printf %s "$code" > exit_code.tmp && mv exit_code.tmp exit_code',
].join('\n');

/**
 * $1 = jobs dir, $2 = key, $3 = bytes of env.sh at the start of stdin (script.sh follows),
 * $4 = working directory, $5 = the wrapper. Prints `petrel:started` or `petrel:attached`.
 */
export const START_SCRIPT = [
  'umask 077',
  'jobs=$1; key=$2; envlen=$3; cwd=$4; wrapper=$5',
  'mkdir -p -- "$cwd" && cwd=$(cd -- "$cwd" && pwd) || { cat >/dev/null; echo "cannot create working directory $4" >&2; exit 3; }',
  'mkdir -p -- "$jobs" || { cat >/dev/null; exit 3; }',
  'j="$jobs/$key"',
  'if ! mkdir -- "$j" 2>/dev/null; then',
  '  cat >/dev/null',
  '  if [ -d "$j" ]; then echo petrel:attached; exit 0; fi',
  '  echo "cannot create $j" >&2; exit 3',
  'fi',
  'j=$(cd -- "$j" && pwd)',
  'head -c "$envlen" > "$j/env.sh"',
  'cat > "$j/script.sh"',
  'cd "$j" || exit 3',
  ': >> output.log',
  // A simple command in the background: the forked shell execs setsid at once, so nothing
  // keeps this session's pipes open and the SSH channel closes as soon as we print.
  'setsid bash -c "$wrapper" petrel-job "$j" "$cwd" </dev/null >>output.log 2>&1 &',
  'echo petrel:started',
].join('\n');

export { WRAPPER };

/**
 * $1 = job dir. Prints `exited <code>`, `running`, `lost`, `starting <age s>` or `unknown`.
 * Running means the wrapper (the process-group leader) is alive: it writes the exit code before
 * it exits, so a dead wrapper without one was killed. A zombie counts as dead (orphans wait for
 * PID 1 to reap them, which in some containers is slow), and a pid that now belongs to another
 * process group was reused. Without /proc, any live member of the group counts.
 */
export const STATUS_SCRIPT = [
  'j=$1',
  'exited() { [ -f "$j/exit_code" ] && printf "exited %s\\n" "$(cat "$j/exit_code")"; }',
  'leader_alive() {',
  '  if [ -d /proc/self ]; then',
  '    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1',
  '    p=$1; set -- ${s##*) }',
  '    [ "$1" != Z ] && [ "$1" != X ] && [ "$3" = "$p" ]',
  '  else',
  '    err=$(kill -0 -- "-$1" 2>&1) && return 0',
  '    case $err in *ermitted*) return 0;; esac',
  '    return 1',
  '  fi',
  '}',
  'exited && exit 0',
  'if [ -f "$j/pid" ]; then',
  '  pid=$(cat "$j/pid")',
  '  if [ -n "$pid" ] && leader_alive "$pid"; then echo running; exit 0; fi',
  '  exited && exit 0',
  '  echo lost; exit 0',
  'fi',
  'if [ -d "$j" ]; then echo "starting $(( $(date +%s) - $(stat -c %Y "$j") ))"; exit 0; fi',
  'echo unknown',
].join('\n');

/** $1 = job dir, $2 = signal name without SIG. */
export const SIGNAL_SCRIPT = [
  // A finished job's pid may have been reused by another process group: leave it alone.
  '[ -f "$1/exit_code" ] && exit 0',
  'pid=$(cat "$1/pid" 2>/dev/null) || exit 0',
  '[ -n "$pid" ] && kill -s "$2" -- "-$pid" 2>/dev/null',
  'exit 0',
].join('\n');

/**
 * $1 = a node home, $2 = its cluster directory. SIGKILLs every job process group recorded
 * under the node home — only there: on a shared home the other nodes' pids belong to other
 * hosts — then removes it, and the cluster directory once no other node is left in it.
 * Succeeds when everything is already gone.
 */
export const TEARDOWN_SCRIPT = [
  'd=$1',
  'if [ -e "$d" ]; then',
  '  for p in "$d"/.petrel/jobs/*/pid; do',
  '    [ -f "$p" ] || continue',
  '    [ -f "${p%/pid}/exit_code" ] && continue',
  '    pid=$(cat "$p") && [ -n "$pid" ] && kill -s KILL -- "-$pid" 2>/dev/null',
  '  done',
  '  rm -rf -- "$d"',
  'fi',
  // The last node of the cluster on this filesystem takes the cluster directory (and the
  // upload staging area in it) along.
  'if [ -n "$2" ] && [ "$2" != "$d" ] && [ -d "$2" ]; then',
  '  set -- "$2"/node-*',
  '  [ -e "$1" ] || rm -rf -- "${1%/node-\*}"',
  'fi',
  'exit 0',
].join('\n');

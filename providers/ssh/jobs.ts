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

import type { DetachedJobState } from '../types.js';

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
 * A job's start on its host. $1 = jobs dir, $2 = key, $3 = bytes of env.sh at the start of
 * stdin (script.sh follows), $4 = working directory; then the launcher's own arguments. Makes
 * the job dir (the exclusive mkdir makes a second start of the same key attach instead of
 * running it twice), writes env.sh and script.sh, and, in the job dir with $j and $cwd set,
 * runs `launch` — which must start the job in the background and return. Prints
 * `petrel:started` or `petrel:attached`.
 */
export function startScript(launch: string[]): string {
  return [
    'umask 077',
    'jobs=$1; key=$2; envlen=$3; cwd=$4',
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
    ...launch,
    'echo petrel:started',
  ].join('\n');
}

/** $1–$4 as startScript's, $5 = the wrapper. */
export const START_SCRIPT = startScript([
  // A simple command in the background: the forked shell execs setsid at once, so nothing
  // keeps this session's pipes open and the SSH channel closes as soon as we print.
  'setsid bash -c "$5" petrel-job "$j" "$cwd" </dev/null >>output.log 2>&1 &',
]);

export { WRAPPER };

/**
 * Shell functions behind every status answer, so the one-job script and the per-host batch
 * cannot drift apart. `petrel_job_state DIR` prints `exited <code>`, `running`, `lost`,
 * `starting <age s>` or `unknown`. Running means the wrapper (the process-group leader) is
 * alive: it writes the exit code before it exits, so a dead wrapper without one was killed. A
 * zombie counts as dead (orphans wait for PID 1 to reap them, which in some containers is
 * slow), and a pid that now belongs to another process group was reused. Without /proc, any
 * live member of the group counts.
 *
 * Files are read with the `read` builtin, never `cat` or `$(...)`: the batch asks about
 * hundreds of jobs per host every second or two, and a fork per file would cost more than
 * the SSH round. Only the rare paths (a job still starting, no /proc) fork. `petrel_now` may
 * be set once by the caller so a batch runs `date` once.
 */
const JOB_STATE_FUNCTIONS = [
  // Sets _v to the first line of $1; fails only when the file cannot be opened.
  'petrel_read() { _v=; [ -f "$1" ] && { IFS= read -r _v || :; } 2>/dev/null < "$1"; }',
  'petrel_leader_alive() {',
  '  if [ -d /proc/self ]; then',
  '    petrel_read "/proc/$1/stat" || return 1',
  '    _p=$1; set -- ${_v##*) }',
  '    [ "$1" != Z ] && [ "$1" != X ] && [ "$3" = "$_p" ]',
  '  else',
  '    _err=$(kill -0 -- "-$1" 2>&1) && return 0',
  '    case $_err in *ermitted*) return 0;; esac',
  '    return 1',
  '  fi',
  '}',
  'petrel_job_state() {',
  '  if petrel_read "$1/exit_code"; then printf "exited %s\\n" "$_v"; return 0; fi',
  '  if [ -f "$1/pid" ]; then',
  '    petrel_read "$1/pid"',
  '    if [ -n "$_v" ] && petrel_leader_alive "$_v"; then echo running; return 0; fi',
  // the wrapper may have written its exit code between the first look and the /proc read
  '    if petrel_read "$1/exit_code"; then printf "exited %s\\n" "$_v"; return 0; fi',
  '    echo lost; return 0',
  '  fi',
  '  if [ -d "$1" ]; then echo "starting $(( ${petrel_now:-$(date +%s)} - $(stat -c %Y "$1") ))"; return 0; fi',
  '  echo unknown',
  '}',
].join('\n');

/** $1 = job dir. Prints one `petrel_job_state` answer. */
export const STATUS_SCRIPT = [JOB_STATE_FUNCTIONS, 'petrel_job_state "$1"'].join('\n');

/**
 * Every node dir and job dir of one host in one exec. Stdin: one request a line, `n <node
 * dir>` or `j <job dir>` (stdin, not arguments: hundreds of jobs would approach ARG_MAX).
 * Prints `petrel:<line number> <answer>` for each, in order: `up`/`gone`/`preempted <notice>` for a node dir, a
 * `petrel_job_state` answer for a job dir. The prefix keeps anything else a login shell may
 * print (a chatty profile) out of the answers.
 */
export const BATCH_STATUS_SCRIPT = [
  JOB_STATE_FUNCTIONS,
  'petrel_now=$(date +%s)',
  'petrel_lines=()',
  'while IFS= read -r line || [ -n "$line" ]; do petrel_lines+=("$line"); done',
  // Jobs first, nodes after: the interruption watcher marks its node before it signals the jobs,
  // so a job seen ended by that signal is always seen on a node marked preempted.
  'for petrel_pass in j n; do',
  '  i=0',
  '  for line in "${petrel_lines[@]}"; do',
  '    case $petrel_pass:$line in',
  // [interruption marker] a cloud node whose spot-interruption watcher (providers/vm/
  // interruption.ts) saw a notice answers `preempted <what the notice said>` while it still runs
  '      "n:n "*) d=${line#n }',
  '        if [ ! -d "$d" ]; then echo "petrel:$i gone"',
  '        elif petrel_read "$d/.petrel/interrupted"; then printf "petrel:%s preempted %s\\n" "$i" "$_v"',
  '        else echo "petrel:$i up"; fi;;',
  '      "j:j "*) printf "petrel:%s " "$i"; petrel_job_state "${line#j }";;',
  '      "j:n "*|"n:j "*) ;;',
  '      j:*) echo "petrel:$i unknown";;',
  '    esac',
  '    i=$((i + 1))',
  '  done',
  'done',
].join('\n');

/** A `petrel_job_state` answer as a job state (`starting` counts as running within the start grace). */
export function parseJobState(answer: string): DetachedJobState {
  const [word, arg] = answer.trim().split(/\s+/);
  switch (word) {
    case 'exited': {
      const code = Number.parseInt(arg ?? '', 10);
      return Number.isFinite(code) ? { state: 'exited', exitCode: code } : { state: 'lost' };
    }
    case 'running':
      return { state: 'running' };
    case 'lost':
      return { state: 'lost' };
    case 'starting':
      return Number(arg) < START_GRACE_S ? { state: 'running' } : { state: 'lost' };
    default:
      return { state: 'unknown' };
  }
}

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

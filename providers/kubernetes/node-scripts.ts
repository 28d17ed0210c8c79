// The shell side of a Kubernetes node. A pod is driven exactly like an SSH node (the detached-job
// contract of providers/ssh/jobs.ts: job dirs with pid, exit_code and output.log under the
// node's home), but through exec, where two things differ:
//  - stdin's end may never arrive (kwok does not deliver it), so whatever a script reads from
//    stdin it reads with an exact byte count given as an argument;
//  - the exec starts wherever the image's WORKDIR is, so every script first goes to $HOME, the
//    root of every relative path (the node's home is ~/.petrel/clusters/<cluster>/node-<rank>).
import { BATCH_STATUS_SCRIPT } from '../ssh/jobs.js';

/** Prepended to every script: relative paths are relative to the home directory. */
const TO_HOME = 'cd -- "${HOME:-/}" 2>/dev/null || cd /';

export function podScript(body: string): string {
  return `${TO_HOME}\n${body}`;
}

/**
 * A job's start. $1 = jobs dir, $2 = key, $3 = bytes of env.sh, $4 = bytes of script.sh (both on
 * stdin, env.sh first), $5 = working directory, $6 = the wrapper. The exclusive mkdir makes a
 * second start of the same key attach instead of running it twice. Prints `petrel:started` or
 * `petrel:attached`.
 */
export const START_SCRIPT = podScript(
  [
    'umask 077',
    'jobs=$1; key=$2; envlen=$3; scriptlen=$4; cwd=$5',
    'mkdir -p -- "$cwd" && cwd=$(cd -- "$cwd" && pwd) || { echo "cannot create working directory $5" >&2; exit 3; }',
    'mkdir -p -- "$jobs" || exit 3',
    'j="$jobs/$key"',
    'if ! mkdir -- "$j" 2>/dev/null; then',
    '  if [ -d "$j" ]; then echo petrel:attached; exit 0; fi',
    '  echo "cannot create $j" >&2; exit 3',
    'fi',
    'j=$(cd -- "$j" && pwd)',
    // One exact read of both files; split from the file, where byte counts are exact everywhere.
    'head -c "$((envlen + scriptlen))" > "$j/stdin"',
    'head -c "$envlen" "$j/stdin" > "$j/env.sh"',
    'tail -c "+$((envlen + 1))" "$j/stdin" > "$j/script.sh"',
    'rm -f -- "$j/stdin"',
    'cd "$j" || exit 3',
    ': >> output.log',
    // In the background under its own session: the exec ends now, the job lives on in the pod.
    'setsid bash -c "$6" petrel-job "$j" "$cwd" </dev/null >>output.log 2>&1 &',
    'echo petrel:started',
  ].join('\n'),
);

/**
 * A command in the node's home. $1 = node home, $2 = bytes of `export …` lines on stdin (the
 * environment: it may carry secrets, so it is never an argument), $3 = the command, $4 = a time
 * limit in seconds ('' = none).
 */
export const RUN_SCRIPT = podScript(
  [
    'mkdir -p -- "$1" && cd -- "$1" || exit 1',
    'if [ "$2" -gt 0 ]; then petrel_env=$(head -c "$2") && eval "$petrel_env"; unset petrel_env; fi',
    '[ -n "$4" ] && exec timeout -k 5 "$4" bash -c "$3"',
    'exec bash -c "$3"',
  ].join('\n'),
);

/** $1 = destination, $2 = bytes of a tar archive on stdin: extracted there, modes as archived, owners ours. */
export const UNTAR_SCRIPT = podScript(['{ [ -d "$1" ] || mkdir -p -- "$1"; } && cd -- "$1" || exit 3', 'head -c "$2" | tar -x -o -p -f -'].join('\n'));

/** $1 = bytes of request lines on stdin; then BATCH_STATUS_SCRIPT's answers. */
export const BATCH_SCRIPT = podScript(`head -c "$1" | {\n${BATCH_STATUS_SCRIPT}\n}`);

/**
 * $1 = node home. Prepares a new node: bash must be there (every job runs under it), the home is
 * created. Prints `petrel:home <abs home>`.
 */
export const PREPARE_SCRIPT = podScript(
  [
    'command -v bash >/dev/null 2>&1 || { echo "the image has no bash; Petrel runs setup and run under bash" >&2; exit 42; }',
    'mkdir -p -- "$1" || exit 3',
    'echo "petrel:home $(cd -- "$1" && pwd)"',
  ].join('\n'),
);

/**
 * $1 = node home. Stops every job the node started (SIGTERM, then SIGKILL after a moment) and
 * removes the node home. Run before a pod is deleted: a kubelet would kill the container's
 * processes anyway, but jobs then get the grace to write their exit code, and kubelets that run
 * exec'd commands outside the container (kwok) would leave them running.
 */
export const STOP_ALL_SCRIPT = podScript(
  [
    'd=$1',
    '[ -d "$d" ] || exit 0',
    'pids=',
    'for p in "$d"/.petrel/jobs/*/pid; do',
    '  [ -f "$p" ] || continue',
    '  [ -f "${p%/pid}/exit_code" ] && continue',
    '  pid=$(cat "$p") && [ -n "$pid" ] && kill -s TERM -- "-$pid" 2>/dev/null && pids="$pids $pid"',
    'done',
    'if [ -n "$pids" ]; then',
    '  i=0; while [ $i -lt 20 ]; do',
    '    alive=; for pid in $pids; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done',
    '    [ -z "$alive" ] && break; sleep 0.25; i=$((i + 1))',
    '  done',
    '  for pid in $pids; do kill -s KILL -- "-$pid" 2>/dev/null; done',
    'fi',
    'rm -rf -- "$d"',
    // the cluster dir goes with its last node (pods of one cluster may share a volume)
    'rmdir -- "${d%/*}" 2>/dev/null',
    'exit 0',
  ].join('\n'),
);

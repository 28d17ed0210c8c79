// The shell side of a Kubernetes node. A pod is driven exactly like an SSH node (the detached-job
// contract of providers/ssh/jobs.ts: job dirs with pid, exit_code and output.log under the
// node's home), but through exec, where two things differ:
//  - stdin's end may never arrive (kwok does not deliver it), so a script that reads stdin gets
//    an exact byte count of it as its first argument (withExactStdin);
//  - the exec starts wherever the image's WORKDIR is, so every script first goes to $HOME, the
//    root of every relative path (the node's home is ~/.petrel/clusters/<cluster>/node-<rank>).
import { BATCH_STATUS_SCRIPT, START_SCRIPT as SSH_START_SCRIPT } from '../ssh/jobs.js';

/** Prepended to every script: relative paths are relative to the home directory. */
const TO_HOME = 'cd -- "${HOME:-/}" 2>/dev/null || cd /';

export function podScript(body: string): string {
  return `${TO_HOME}\n${body}`;
}

/**
 * `script` run with exactly $1 bytes of the exec's stdin as its stdin (then its end), and the
 * arguments after $1 as its own: the SSH scripts, which read stdin to its end, work unchanged.
 */
export function withExactStdin(script: string): string {
  return podScript(`head -c "$1" | {\nshift\n${script}\n}`);
}

/** SSH's job start (providers/ssh/jobs.ts): $1 = bytes of env.sh + script.sh on stdin, then its $1–$5. */
export const START_SCRIPT = withExactStdin(SSH_START_SCRIPT);

/**
 * A command in the node's home. $1 = bytes of `export …` lines on stdin (the environment: it may
 * carry secrets, so it is never an argument), $2 = node home, $3 = the command, $4 = a time limit
 * in seconds ('' = none).
 */
export const RUN_SCRIPT = withExactStdin(
  [
    'mkdir -p -- "$1" && cd -- "$1" || exit 1',
    'petrel_env=$(cat) && eval "$petrel_env"; unset petrel_env',
    '[ -n "$3" ] && exec timeout -k 5 "$3" bash -c "$2" </dev/null',
    'exec bash -c "$2" </dev/null',
  ].join('\n'),
);

/** $1 = bytes of a tar archive on stdin, $2 = destination: extracted there, modes as archived, owners ours. */
export const UNTAR_SCRIPT = withExactStdin(['{ [ -d "$1" ] || mkdir -p -- "$1"; } && cd -- "$1" || exit 3', 'exec tar -x -o -p -f -'].join('\n'));

/** $1 = bytes of request lines on stdin; then BATCH_STATUS_SCRIPT's answers. */
export const BATCH_SCRIPT = withExactStdin(BATCH_STATUS_SCRIPT);

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

// The spot-interruption watcher: a small shell loop started on each spot node after provision
// (detached, so it outlives our SSH session and our process), one per node dir. Every 2 s it
// asks the instance metadata service whether the cloud has announced the instance's end:
//
//   aws: IMDSv2 — PUT /latest/api/token, then GET /latest/meta-data/spot/instance-action
//        (200 + {"action","time"} = notice, 404 = none)
//   gcp: GET /computeMetadata/v1/instance/preempted with Metadata-Flavor: Google ("TRUE" = notice)
//
// On a notice it writes <node dir>/.petrel/interrupted FIRST — the batched status then reports
// the node preempted while the instance still runs (providers/ssh/jobs.ts), so recovery starts
// in the minute or two AWS gives — and then SIGTERMs every running job's process group under
// the node dir, so training can checkpoint. The base URL is configurable (and may name the
// instance, `{instance_id}`, so one loopback stand-in serves every instance of a test).
import type { NodeHandle } from '../../core/cluster-state.js';
import { ProviderError, type CommandRunner } from '../types.js';
import { shellQuote } from '../ssh/shell.js';

export type MetadataKind = 'aws' | 'gcp';

export interface InterruptionEndpoint {
  kind: MetadataKind;
  /** the metadata service's base URL; `{instance_id}` is replaced by the node's instance id */
  baseUrl: string;
}

export const DEFAULT_METADATA_URL: Record<MetadataKind, string> = {
  aws: 'http://169.254.169.254',
  gcp: 'http://metadata.google.internal',
};

export const INTERRUPTED_MARKER = '.petrel/interrupted';
const POLL_SECONDS = 2;

/**
 * $1 = node dir, $2 = kind, $3 = base URL, $4 = poll seconds. Runs until a notice (then acts and
 * exits) or until the node dir is removed (teardown). A second copy for the same dir exits at
 * once (flock on .petrel/watcher.lock), so starting it again — a retried provision, a restarted
 * instance — is harmless.
 */
export const WATCHER_SCRIPT = String.raw`
cd -- "$1" 2>/dev/null || exit 0
d=$(pwd); kind=$2; base=$3; every=$4
mkdir -p .petrel || exit 1
exec 9>>.petrel/watcher.lock
if command -v flock >/dev/null 2>&1; then flock -n 9 || exit 0; fi
echo $$ > .petrel/watcher.pid
[ -f .petrel/interrupted ] && exit 0
if command -v curl >/dev/null 2>&1; then tool=curl
elif command -v wget >/dev/null 2>&1; then tool=wget
elif command -v python3 >/dev/null 2>&1; then tool=python3
else echo "petrel watcher: no curl, wget or python3: cannot watch for interruption notices" >&2; exit 3; fi
# petrel_http METHOD URL [HEADER...]: the body on stdout; success only for a 2xx answer.
petrel_http() {
  local m=$1 u=$2 h; shift 2
  local args=()
  case $tool in
    curl) for h in "$@"; do args+=(-H "$h"); done; curl -sf -m 2 -X "$m" "${"$"}{args[@]}" -- "$u";;
    wget) for h in "$@"; do args+=("--header=$h"); done; wget -q -T 2 -t 1 -O - --method="$m" "${"$"}{args[@]}" -- "$u";;
    python3) python3 -c '
import sys, urllib.request
m, u, hs = sys.argv[1], sys.argv[2], sys.argv[3:]
r = urllib.request.Request(u, method=m, data=b"" if m == "PUT" else None)
for h in hs:
    k, v = h.split(": ", 1); r.add_header(k, v)
try:
    sys.stdout.write(urllib.request.urlopen(r, timeout=2).read().decode())
except Exception:
    sys.exit(1)
' "$m" "$u" "$@";;
  esac
}
token=
notice() {
  local body
  case $kind in
    aws)
      [ -n "$token" ] || token=$(petrel_http PUT "$base/latest/api/token" "X-aws-ec2-metadata-token-ttl-seconds: 21600") || token=
      if [ -n "$token" ]; then
        body=$(petrel_http GET "$base/latest/meta-data/spot/instance-action" "X-aws-ec2-metadata-token: $token") || { token=; return 1; }
      else
        body=$(petrel_http GET "$base/latest/meta-data/spot/instance-action") || return 1
      fi
      [ -n "$body" ] || return 1
      local action time
      action=$(printf %s "$body" | sed -n 's/.*"action"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
      time=$(printf %s "$body" | sed -n 's/.*"time"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
      echo "EC2 instance-action ${"$"}{action:-unknown}${"$"}{time:+ at $time}";;
    gcp)
      body=$(petrel_http GET "$base/computeMetadata/v1/instance/preempted" "Metadata-Flavor: Google") || return 1
      [ "$body" = TRUE ] || return 1
      echo "GCE instance/preempted is TRUE";;
  esac
}
while [ -d "$d" ]; do
  if said=$(notice); then
    printf '%s\n' "$said" | tr -d '\r' | head -n 1 > .petrel/interrupted.tmp && mv .petrel/interrupted.tmp .petrel/interrupted
    for p in "$d"/.petrel/jobs/*/pid; do
      [ -f "$p" ] || continue
      [ -f "${"$"}{p%/pid}/exit_code" ] && continue
      pid=$(cat "$p") && [ -n "$pid" ] && kill -s TERM -- "-$pid" 2>/dev/null
    done
    exit 0
  fi
  sleep "$every"
done
`;

/** The metadata base URL for one instance. */
export function metadataUrlFor(endpoint: InterruptionEndpoint, instanceId: string): string {
  return endpoint.baseUrl.replaceAll('{instance_id}', instanceId).replace(/\/+$/, '');
}

/**
 * Starts the watcher on `node` through `runner` (rooted at the node dir). Returns once it runs
 * detached (or one was already running there).
 */
export async function startInterruptionWatcher(runner: CommandRunner, node: NodeHandle, endpoint: InterruptionEndpoint, pollSeconds = POLL_SECONDS): Promise<void> {
  const instanceId = node.data.instance_id;
  if (!instanceId) throw new ProviderError('config', `node ${node.rank} (${node.id}) has no instance id; was it provisioned by a cloud provider?`);
  const url = metadataUrlFor(endpoint, instanceId);
  const args = ['.', endpoint.kind, url, String(pollSeconds)].map(shellQuote).join(' ');
  // setsid + closed stdio: the SSH channel closes at once and the loop survives the session.
  const cmd = `setsid bash -c ${shellQuote(WATCHER_SCRIPT)} petrel-interruption-watcher ${args} </dev/null >>.petrel/watcher.log 2>&1 &`;
  // Not `mkdir && setsid … &`: that backgrounds a subshell which holds the channel open until the watcher ends.
  const r = await runner.run(`mkdir -p .petrel || exit 1\n${cmd}`, { timeoutMs: 30_000 });
  if (r.exitCode !== 0) {
    throw new ProviderError('transient', `starting the interruption watcher on node ${node.rank} (${instanceId}) failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
  }
}

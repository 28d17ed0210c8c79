// Batched status for Slurm (Provider.batchStatus): every allocation and job step a watcher asks
// about, with ONE shell per login host however many clusters and jobs it serves — the job
// directories read with the SSH provider's shell functions, then one `squeue` for all of the
// user's allocations. Job files are read first: an allocation that ends between the two reads
// is then seen ended, so its killed steps count as part of the loss, not as jobs that failed.
import type { NodeHandle, NodeStatus } from '../../core/cluster-state.js';
import { ProviderError, type DetachedJobState, type WatchedJob, type WatchedJobReport } from '../types.js';
import { newBatchRequests, recordAnswers, request, type BatchRequests } from '../ssh/batch-status.js';
import { BATCH_STATUS_SCRIPT, parseJobState } from '../ssh/jobs.js';
import { jobDirOf } from '../ssh/runner.js';
import { goneReason, isHolding, killedWithAllocation, parseSqueueLine, SQUEUE_FORMAT, type AllocationState } from './allocation.js';
import type { LoginShell } from './login.js';

/** After the job states: `petrel:q <squeue line>` for each of the user's allocations, or `petrel:squeue-failed <why>`. */
const SQUEUE_PART = [
  `if out=$(squeue -h -u "$(id -un)" -t all -o '${SQUEUE_FORMAT}' 2>&1); then`,
  '  printf "%s\\n" "$out" | sed "s/^/petrel:q /"',
  'else',
  '  printf "petrel:squeue-failed %s\\n" "$(printf %s "$out" | tr "\\n" " ")"',
  'fi',
].join('\n');

export const SLURM_BATCH_STATUS_SCRIPT = [BATCH_STATUS_SCRIPT, SQUEUE_PART].join('\n');

interface LoginRound extends BatchRequests {
  login: LoginShell;
  /** allocation id → state, once squeue has answered (absent: the login host or squeue did not) */
  allocations?: Map<string, AllocationState>;
}

type Slot = { missing: true } | { round: LoginRound; jobId: string; job: number | undefined };

const TIMEOUT_MS = 20_000;

export async function slurmBatchStatus(jobs: WatchedJob[], loginOf: (node: NodeHandle) => LoginShell): Promise<WatchedJobReport[]> {
  const rounds = new Map<string, LoginRound>();
  const slots: Slot[][] = jobs.map((job) =>
    job.ranks.map((rank): Slot => {
      const node = job.handle.nodes.find((n) => n.rank === rank);
      const jobId = node?.data.slurm_job_id;
      if (!node || !jobId || !node.data.dir) return { missing: true };
      const key = loginKey(node);
      let round = rounds.get(key);
      if (!round) {
        round = { login: loginOf(node), ...newBatchRequests() };
        rounds.set(key, round);
      }
      let line: number | undefined;
      try {
        line = request(round, `j ${jobDirOf(node.data.dir, job.key)}`);
      } catch (err) {
        if (err instanceof ProviderError) throw err;
        // a key no job can have been started under: its answer is `unknown`
      }
      return { round, jobId, job: line };
    }),
  );

  await Promise.all([...rounds.values()].map((round) => ask(round)));

  return jobs.map((job, j) => {
    const nodes: NodeStatus[] = [];
    const states: DetachedJobState[] = [];
    job.ranks.forEach((rank, i) => {
      const slot = slots[j]![i]!;
      if ('missing' in slot) {
        nodes.push({ rank, state: 'gone', reason: 'terminated' });
        states.push({ state: 'unknown' });
        return;
      }
      const { round } = slot;
      const answer = slot.job === undefined ? undefined : round.answers[slot.job];
      const state = answer === undefined ? ({ state: 'unknown' } as const) : parseJobState(answer);
      if (!round.allocations) {
        states.push(state);
        nodes.push({ rank, state: 'gone', reason: 'unreachable' });
        return;
      }
      const alloc = round.allocations.get(slot.jobId);
      if (alloc && isHolding(alloc)) {
        states.push(state);
        nodes.push({ rank, state: 'up' });
      } else {
        const gone = goneReason(alloc?.state, alloc?.reason);
        states.push(killedWithAllocation(state));
        nodes.push({ rank, state: 'gone', reason: gone.reason, detail: `Slurm job ${slot.jobId}: ${gone.detail}` });
      }
    });
    return { nodes, jobs: states };
  });
}

function loginKey(node: NodeHandle): string {
  const d = node.data;
  return d.login === 'ssh' ? `ssh:${d.user}@${d.host}:${d.port}:${d.identity_file}:${d.proxy_jump ?? ''}:${d.proxy_command ?? ''}` : 'local';
}


/** One shell on the login host; a host that does not answer leaves every answer unknown. */
async function ask(round: LoginRound): Promise<void> {
  let out: string;
  try {
    const r = await round.login.exec(SLURM_BATCH_STATUS_SCRIPT, [], { stdin: `${round.lines.join('\n')}\n`, timeoutMs: TIMEOUT_MS + round.lines.length, quick: true });
    if (r.exitCode !== 0) return;
    out = r.stdout;
  } catch {
    return;
  }
  recordAnswers(round, out);
  // squeue failing (the controller down) leaves the allocations unknown: the nodes unreachable
  if (/^petrel:squeue-failed /m.test(out)) return;
  const allocations = new Map<string, AllocationState>();
  for (const m of out.matchAll(/^petrel:q (.*)$/gm)) {
    const s = parseSqueueLine(m[1]!);
    if (s) allocations.set(s.jobId, s);
  }
  round.allocations = allocations;
}

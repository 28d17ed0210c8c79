// The cluster-wide gauges, counted from Temporal visibility every 15 s on the worker's own
// client: managed jobs by status and infra, clusters up, cost accrued, recoveries by cause.
//
// Temporal's visibility stores answer `GROUP BY` only for ExecutionStatus, not for custom
// search attributes such as PetrelStatus, so this lists instead, incrementally: every running
// job and cluster on each pass (their status and cost move), and closed ones only once, from
// the close times since the last pass (what a closed workflow recorded never changes). A
// worker with 1,000 running jobs reads about 1,000 rows per pass.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { COST_MEMO_KEY, spanCost, type BilledSpan, type CostMemo } from '../core/cost.js';
import { isTerminalManagedJobStatus, type ManagedJobStatus } from '../core/managed-job-state.js';
import { managedJobStatusQuery } from '../workflows/managed-job-messages.js';
import type { ManagedJobView } from '../workflows/managed-job-types.js';
import { censusTimestamp, clustersUpGauge, costCounter, jobsGauge, recoveriesCounter, setTotals } from './metrics-registry.js';

export const CENSUS_INTERVAL_MS = 15_000;
/** How far back a pass looks for newly closed workflows: visibility lags behind the close. */
const CLOSE_LAG_MS = 60_000;
/** Jobs whose recovery causes are read (one query each) per pass; recoveries are rare events. */
const CAUSE_QUERIES_PER_PASS = 20;

const JOB_STATUSES: ManagedJobStatus[] = [
  'PENDING', 'STARTING', 'RUNNING', 'RECOVERING', 'CANCELLING', 'SUCCEEDED', 'CANCELLED',
  'FAILED', 'FAILED_SETUP', 'FAILED_PRECHECKS', 'FAILED_NO_RESOURCE', 'FAILED_CONTROLLER', 'FAILED_BUDGET',
];
export const RECOVERY_CAUSES = ['preempted', 'unreachable', 'terminated', 'exit_code', 'unknown'] as const;
export type RecoveryCause = (typeof RECOVERY_CAUSES)[number];

interface Seen {
  kind: 'job' | 'cluster';
  status: string;
  infra: string;
  recoveries: number;
  spans: BilledSpan[];
  /** epoch ms; undefined while it runs */
  closedAt?: number;
}

interface Causes {
  /** the recovery count these causes were read at */
  at: number;
  causes: Partial<Record<RecoveryCause, number>>;
}

export class JobCensus {
  /** closed runs, by run id: counted once */
  private readonly closed = new Map<string, Seen>();
  private readonly causes = new Map<string, Causes>();
  private readonly infras = new Set<string>();
  /** workflow id of each job run seen with recoveries (a query needs both) */
  private readonly runIds = new Map<string, string>();
  private closedSince?: number;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private lastProblem?: string;

  constructor(private readonly client: Client) {}

  start(): void {
    const tick = () => {
      this.running = this.pass()
        .catch((err) => this.report(`metrics: counting jobs from visibility failed: ${(err as Error).message}`))
        .finally(() => {
          this.running = undefined;
          if (this.timer !== undefined) this.timer = setTimeout(tick, CENSUS_INTERVAL_MS).unref();
        });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass: list, count, set every gauge at once. */
  async pass(): Promise<void> {
    const startedAt = Date.now();
    const kinds = "PetrelKind IN ('job', 'cluster')";
    const open = new Map<string, Seen>();
    for await (const wf of this.client.workflow.list({ query: `${kinds} AND ExecutionStatus = 'Running'`, pageSize: 1000 })) {
      const seen = this.read(wf);
      if (seen) open.set(wf.runId, seen);
    }
    const since = this.closedSince === undefined ? '' : ` AND CloseTime >= '${new Date(this.closedSince - CLOSE_LAG_MS).toISOString()}'`;
    for await (const wf of this.client.workflow.list({ query: `${kinds} AND ExecutionStatus != 'Running'${since}`, pageSize: 1000 })) {
      // A run that continued as new lives on in its successor, which is counted instead.
      if (wf.status.name === 'CONTINUED_AS_NEW') continue;
      const seen = this.read(wf);
      if (seen) this.closed.set(wf.runId, seen);
    }
    this.closedSince = startedAt;
    await this.readCauses(open);
    this.publish(open, Date.now());
    censusTimestamp.set(Date.now() / 1000);
    this.lastProblem = undefined;
  }

  private read(wf: WorkflowExecutionInfo): Seen | undefined {
    const memo = (wf.memo ?? {}) as Record<string, unknown>;
    // Job-group executions are listed under their members; the same skip as cost-report's.
    if (memo.execution) return undefined;
    const attr = (name: string) => {
      const v = wf.typedSearchAttributes.getAll().find((p) => p.key.name === name)?.value;
      return v === undefined || v === null ? undefined : v;
    };
    const kind = attr('PetrelKind') === 'cluster' ? 'cluster' : 'job';
    const closedAt = wf.closeTime?.getTime();
    let status = String(attr('PetrelStatus') ?? (kind === 'job' ? 'PENDING' : 'INIT'));
    // Ended without saying so (terminated, timed out): its last word is not its state.
    if (closedAt !== undefined && kind === 'job' && !isTerminalManagedJobStatus(status as ManagedJobStatus)) status = 'FAILED_CONTROLLER';
    if (closedAt !== undefined && kind === 'cluster') status = 'TERMINATED';
    const infra = String(attr('PetrelInfra') ?? 'none');
    const recoveries = Number(attr('PetrelRecoveries') ?? 0);
    const spans = (memo[COST_MEMO_KEY] as CostMemo | undefined)?.spans ?? [];
    if (kind === 'job' && recoveries > 0) this.runIds.set(wf.runId, wf.workflowId);
    return { kind, status, infra, recoveries: Number.isFinite(recoveries) ? recoveries : 0, spans, closedAt };
  }

  /** Why each job with recoveries recovered, asked of the job itself when its count changed. */
  private async readCauses(open: Map<string, Seen>): Promise<void> {
    const stale: Array<[string, Seen]> = [];
    for (const [runId, seen] of [...open, ...this.closed]) {
      if (seen.kind === 'job' && seen.recoveries > 0 && this.causes.get(runId)?.at !== seen.recoveries) stale.push([runId, seen]);
    }
    await Promise.all(
      stale.slice(0, CAUSE_QUERIES_PER_PASS).map(async ([runId, seen]) => {
        const causes = await this.queryCauses(runId, seen).catch(() => ({ unknown: seen.recoveries }));
        this.causes.set(runId, { at: seen.recoveries, causes });
      }),
    );
  }

  private async queryCauses(runId: string, seen: Seen): Promise<Partial<Record<RecoveryCause, number>>> {
    const ids = this.runIds.get(runId);
    if (!ids) return { unknown: seen.recoveries };
    const view = await this.client.workflow.getHandle(ids, runId).query(managedJobStatusQuery);
    return causesOf(view, seen.recoveries);
  }

  private publish(open: Map<string, Seen>, now: number): void {
    const jobs = new Map<string, number>();
    const up = new Map<string, number>();
    const recoveries = new Map<RecoveryCause, number>();
    let cost = 0;
    for (const [runId, s] of [...open, ...this.closed]) {
      this.infras.add(s.infra);
      cost += s.spans.reduce((sum, span) => sum + spanCost(span, s.closedAt ?? now), 0);
      if (s.kind === 'cluster') {
        if (s.status === 'UP') up.set(s.infra, (up.get(s.infra) ?? 0) + 1);
        continue;
      }
      const key = `${s.status}\u0000${s.infra}`;
      jobs.set(key, (jobs.get(key) ?? 0) + 1);
      if (s.recoveries > 0) {
        const causes = this.causes.get(runId)?.causes ?? { unknown: s.recoveries };
        for (const [cause, n] of Object.entries(causes) as Array<[RecoveryCause, number]>) recoveries.set(cause, (recoveries.get(cause) ?? 0) + n);
      }
    }
    // Every status of every infra ever seen, zeros included: a series that drops to 0 stays
    // queryable (`petrel_jobs{status="RUNNING"} == 0`) instead of vanishing.
    jobsGauge.reset();
    clustersUpGauge.reset();
    for (const infra of this.infras) {
      for (const status of JOB_STATUSES) jobsGauge.set({ status, infra }, 0);
      clustersUpGauge.set({ infra }, up.get(infra) ?? 0);
    }
    for (const [key, n] of jobs) {
      const [status, infra] = key.split('\u0000') as [string, string];
      jobsGauge.set({ status, infra }, n);
    }
    setTotals(recoveriesCounter, RECOVERY_CAUSES.map((cause) => ({ labels: { cause }, value: recoveries.get(cause) ?? 0 })));
    setTotals(costCounter, [{ labels: {}, value: cost }]);
  }

  private report(problem: string): void {
    if (problem !== this.lastProblem) console.error(`petrel worker: ${problem}`);
    this.lastProblem = problem;
  }
}

/** The cause of each recovery a job's view records, from how its attempts ended. */
export function causesOf(view: ManagedJobView, recoveries: number): Partial<Record<RecoveryCause, number>> {
  const out: Partial<Record<RecoveryCause, number>> = {};
  let counted = 0;
  for (const a of view.attempts) {
    let cause: RecoveryCause | undefined;
    if (a.outcome === 'restarted') cause = 'exit_code';
    else if (a.outcome === 'preempted') cause = /unreachable/.test(a.reason ?? '') ? 'unreachable' : /\(terminated/.test(a.reason ?? '') ? 'terminated' : 'preempted';
    if (!cause || counted >= recoveries) continue;
    out[cause] = (out[cause] ?? 0) + 1;
    counted++;
  }
  if (counted < recoveries) out.unknown = recoveries - counted;
  return out;
}

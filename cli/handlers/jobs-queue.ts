// Handler of `petrel jobs queue [-u]`: managed jobs from one visibility query. Yours by default
// (and those recorded before users existed); everyone's with -u/--all-users.
import type { CliContext } from '../context.js';
import { currentUser } from '../cluster-requests.js';
import { ago, duration, formatTable } from '../table.js';
import { attribute, literal, MANAGED_JOBS, NOT_ENDED, ofOtherUsers, STEPS, visibleTo } from '../visibility.js';

export interface JobRow {
  id: number;
  /** a pipeline's step: its index (the row's id is the pipeline's) */
  task?: number;
  /** a pipeline's or job group's steps, in order */
  tasks?: JobRow[];
  /** pipelines: serial (a chain of steps) or parallel (a job group) */
  execution?: 'serial' | 'parallel';
  name: string | null;
  user: string | null;
  status: string;
  recoveries: number;
  infra: string | null;
  region: string | null;
  resources: string;
  submittedAt: string;
  endedAt: string | null;
}

/** Jobs, each pipeline with those of its steps the query matched. */
export async function listJobs(ctx: CliContext, query: string): Promise<JobRow[]> {
  const rows = await listRows(ctx, query);
  const jobs = rows.filter((r) => r.task === undefined);
  for (const job of jobs) {
    const tasks = rows.filter((r) => r.task !== undefined && r.id === job.id);
    if (tasks.length) job.tasks = tasks.sort((a, b) => a.task! - b.task!);
  }
  return jobs.sort((a, b) => b.id - a.id);
}

/** Every listed job and step as one row each. */
async function listRows(ctx: CliContext, query: string): Promise<JobRow[]> {
  const client = await ctx.client();
  const rows: JobRow[] = [];
  const seen = new Set<string>();
  for await (const wf of client.workflow.list({ query })) {
    // A resumed pipeline (and its rerun steps) has several runs under one id: the newest counts.
    if (seen.has(wf.workflowId)) continue;
    seen.add(wf.workflowId);
    const get = (name: string) => attribute(wf, name) ?? null;
    const memo = (wf.memo ?? {}) as { resources?: string; execution?: 'serial' | 'parallel' };
    const step = /^job\/(\d+)\/(\d+)$/.exec(wf.workflowId);
    const row: JobRow = {
      id: Number(step?.[1] ?? get('PetrelJobId') ?? wf.workflowId.replace(/^job\//, '')),
      ...(step ? { task: Number(step[2]) } : {}),
      ...(memo.execution ? { execution: memo.execution } : {}),
      name: get('PetrelJobName'),
      user: get('PetrelUser'),
      status: get('PetrelStatus') ?? 'PENDING',
      recoveries: Number(get('PetrelRecoveries') ?? 0),
      infra: get('PetrelInfra'),
      region: get('PetrelRegion'),
      resources: String(memo.resources ?? '-'),
      submittedAt: wf.startTime.toISOString(),
      endedAt: wf.closeTime?.toISOString() ?? null,
    };
    rows.push(row);
  }
  return rows;
}

export async function jobsQueue(ctx: CliContext, flags: { allUsers?: boolean; skipFinished?: boolean; json?: boolean }): Promise<number> {
  const me = currentUser();
  const clauses = [MANAGED_JOBS];
  if (flags.skipFinished) clauses.push(NOT_ENDED);
  const mine = flags.allUsers ? [] : [visibleTo(me)];
  // Steps are listed with their pipelines: the steps of the pipelines listed, from a second query.
  const rows = await listJobs(ctx, [...clauses, ...mine].join(' AND '));
  const pipelines = rows.filter((r) => r.execution);
  if (pipelines.length > 0) {
    const ids = pipelines.map((r) => literal(String(r.id))).join(', ');
    const steps = await listRows(ctx, [STEPS, `PetrelJobId IN (${ids})`].join(' AND '));
    for (const p of pipelines) p.tasks = steps.filter((s) => s.id === p.id).sort((a, b) => a.task! - b.task!);
  }
  if (flags.json) {
    ctx.line(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    ctx.line('No managed jobs.');
    if (!flags.allUsers) {
      const { count } = await (await ctx.client()).workflow.count([...clauses, ofOtherUsers(me)].join(' AND '));
      if (count > 0) ctx.note(`${count} managed job${count > 1 ? 's' : ''} of other users not shown (you are ${me}); see petrel jobs queue -u`);
    }
    return 0;
  }
  const withTasks = rows.some((r) => r.tasks);
  const lines = rows.flatMap((r) => [r, ...(r.tasks ?? [])]);
  ctx.line(
    formatTable(
      ['ID', ...(withTasks ? ['TASK'] : []), 'NAME', ...(flags.allUsers ? ['USER'] : []), 'RESOURCES', 'SUBMITTED', 'DURATION', 'RECOVERIES', 'INFRA', 'STATUS'],
      lines.map((r) => [
        r.task === undefined ? String(r.id) : '',
        ...(withTasks ? [r.task === undefined ? '-' : String(r.task)] : []),
        r.name ?? '-',
        ...(flags.allUsers ? [r.user ?? '-'] : []),
        r.resources,
        ago(r.submittedAt),
        duration(r.submittedAt, r.endedAt ?? undefined),
        String(r.recoveries),
        [r.infra, r.region].filter(Boolean).join('/') || '-',
        r.status,
      ]),
    ),
  );
  return 0;
}

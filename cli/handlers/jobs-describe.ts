// Handler of `petrel jobs describe ID`: the job and every attempt: where, when, why it ended.
import { formatUsd, spanCost } from '../../core/cost.js';
import { attemptSpan } from '../../workflows/attempt-cost.js';
import type { Client } from '@temporalio/client';
import { groupHostnames } from '../../core/job-group-hosts.js';
import type { AttemptView, CheckpointView, ManagedJobView } from '../../workflows/managed-job-types.js';
import { describeWorker } from '../../core/worker-ops.js';
import { UserError } from '../errors.js';
import { findStep, isPipeline, pipelineView, stepJobView } from '../pipeline-client.js';
import { placementLabel } from '../../core/failover.js';
import { formatHourly } from '../../core/optimizer-table.js';
import type { CliContext } from '../context.js';
import { managedJobView, managedJobWorkflowId, parseJobId } from '../managed-job-client.js';
import { noteUiLink } from './ui.js';
import { duration, formatTable } from '../table.js';

export async function jobsDescribe(ctx: CliContext, idArg: string, flags: { json?: boolean; task?: string }): Promise<number> {
  const client = await ctx.client();
  const id = parseJobId(idArg);
  if (await isPipeline(client, id)) return describePipeline(ctx, client, id, flags);
  if (flags.task !== undefined) throw new UserError(`--task ${flags.task}: managed job ${id} is a single task, not a pipeline or job group`);
  const view = await managedJobView(client, id);
  if (flags.json) {
    ctx.line(JSON.stringify(view, null, 2));
    return 0;
  }
  renderJob(ctx, view);
  noteUiLink(ctx, managedJobWorkflowId(id));
  return 0;
}

/** A pipeline and its steps; with --task, one step as a managed job (its JSON is a job's). */
async function describePipeline(ctx: CliContext, client: Client, id: number, flags: { json?: boolean; task?: string }): Promise<number> {
  const view = await pipelineView(client, id);
  const steps = flags.task !== undefined ? [findStep(view, flags.task)] : view.steps;
  const jobs = await Promise.all(steps.map((s) => stepJobView(client, s)));
  if (flags.task !== undefined) {
    const job = jobs[0];
    if (!job) throw new UserError(`job ${id} task ${steps[0]!.index} (${steps[0]!.name}) has not started: ${steps[0]!.status}${steps[0]!.message ? ` (${steps[0]!.message})` : ''}`);
    if (flags.json) ctx.line(JSON.stringify(job, null, 2));
    else renderJob(ctx, job);
    return 0;
  }
  if (flags.json) {
    ctx.line(JSON.stringify({ ...view, steps: view.steps.map((s, i) => ({ ...s, job: jobs[i] ?? null })) }, null, 2));
    return 0;
  }
  const kind = view.kind === 'jobgroup' ? 'Job group' : 'Pipeline';
  ctx.line(`${kind} ${view.jobId}${view.name ? ` (${view.name})` : ''}: ${view.status}${view.message ? ` — ${view.message.split('\n')[0]}` : ''}`);
  ctx.line(`  user ${view.user}, submitted ${view.submittedAt}, ended ${view.endedAt ?? '-'}${view.generation ? `, resumed ${view.generation} time${view.generation > 1 ? 's' : ''}` : ''}`);
  if (view.hosts?.members.length) {
    ctx.line(`  hostnames (version ${view.hosts.version}): ${view.hosts.members.flatMap((m) => m.nodeIps.map((ip, r) => `${groupHostnames(view.hosts!.group, m.task, r)[0]}=${ip}`)).join(', ')}`);
  }
  ctx.line('');
  ctx.line(
    formatTable(
      ['TASK', 'NAME', ...(view.kind === 'jobgroup' ? ['ROLE'] : []), 'RESOURCES', 'STATUS', 'INFRA', 'RECOVERIES', 'DURATION', 'WORKFLOW', 'MESSAGE'],
      view.steps.map((s) => [
        String(s.index),
        s.name,
        ...(view.kind === 'jobgroup' ? [s.role ?? '-'] : []),
        s.resourcesSummary,
        s.status + (s.generation !== undefined && s.generation !== view.generation ? ' (earlier run)' : ''),
        [s.cloud, s.region].filter(Boolean).join('/') || '-',
        String(s.recoveries),
        s.startedAt ? duration(s.startedAt, s.endedAt) : '-',
        s.workflowId ?? '-',
        s.message ?? '',
      ]),
    ),
  );
  steps.forEach((s, i) => {
    const job = jobs[i];
    if (!job) return;
    ctx.line('');
    ctx.line(`── task ${s.index} (${s.name}) ──`);
    renderJob(ctx, job);
  });
  return 0;
}

function renderJob(ctx: CliContext, view: ManagedJobView): void {
  ctx.line(`Managed job ${view.jobId}${view.name ? ` (${view.name})` : ''}: ${view.status}${view.message ? ` — ${view.message.split('\n')[0]}` : ''}`);
  ctx.line(`  user ${view.user}, task id ${view.taskId}`);
  ctx.line(`  resources ${view.resourcesSummary}`);
  ctx.line(`  submitted ${view.submittedAt}, ended ${view.endedAt ?? '-'}, recoveries ${view.recoveries}, restarts on errors ${view.restartsOnErrors}`);
  const priced = view.attempts.some((a) => a.hourlyPrice !== undefined && a.hourlyPrice > 0);
  if (priced) ctx.line(`  cost ${formatUsd(view.attempts.reduce((sum, a) => sum + attemptCost(a), 0))}${view.endedAt ? '' : ' so far'}`);
  ctx.line('');
  ctx.line(
    formatTable(
      ['ATTEMPT', 'INFRA', ...(priced ? ['INSTANCE', '$/HOUR', 'COST'] : []), 'CLUSTER', 'NODES', 'STARTED', 'DURATION', 'OUTCOME', 'REASON'],
      view.attempts.map((a) => [
        String(a.attempt),
        placementLabel(a) + (a.handle?.label && !a.instanceType ? ` (${a.handle.label})` : ''),
        ...(priced
          ? [
              (a.instanceType ?? '-') + (a.useSpot ? ' (spot)' : ''),
              a.hourlyPrice !== undefined ? formatHourly(a.hourlyPrice * (a.numNodes ?? 1)) : '-',
              formatUsd(attemptCost(a)),
            ]
          : []),
        a.clusterName,
        a.nodeIds.join(',') || '-',
        a.startedAt,
        duration(a.startedAt, a.endedAt),
        a.outcome + (a.exitCode !== undefined && a.exitCode !== 0 ? ` (exit ${a.exitCode ?? '?'})` : ''),
        [a.restoredFrom ? `restored snapshot ${a.restoredFrom.seq} (attempt ${a.restoredFrom.attempt})` : '', a.reason ?? ''].filter(Boolean).join('; '),
      ]),
    ),
  );
  if (view.checkpoint) renderCheckpoints(ctx, view.checkpoint);
}

export function renderCheckpoints(ctx: CliContext, c: CheckpointView): void {
  ctx.line('');
  const where = c.store ? `${c.store}${c.worker && c.store.startsWith('file://') ? ` (on ${describeWorker(c.worker)})` : ''}` : 'not yet known';
  ctx.line(`Checkpoints: every ${c.intervalSeconds} s, the newest ${c.keep} kept, in ${where}`);
  if (c.snapshots.length === 0) ctx.line('  no complete snapshot yet');
  else {
    ctx.line(
      formatTable(
        ['SNAPSHOT', 'ATTEMPT', 'TAKEN', 'FILES', 'SIZE', 'COPIED', 'WHY', 'MARKER'],
        c.snapshots.map((s) => [String(s.seq), String(s.attempt), s.takenAt, String(s.files), formatBytes(s.bytes), s.copiedBytes !== undefined ? formatBytes(s.copiedBytes) : '-', s.reason ?? '-', s.marker || '-']),
      ),
    );
  }
  if (c.lastSkipped) ctx.line(`  last skipped at ${c.lastSkipped.at}: ${c.lastSkipped.why}`);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** What an attempt's machines cost, up to now while they run. */
function attemptCost(a: AttemptView): number {
  const span = attemptSpan(a);
  return span ? spanCost(span, Date.now()) : 0;
}

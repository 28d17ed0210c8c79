// Handler of `petrel jobs describe ID`: the job and every attempt: where, when, why it ended.
import { formatUsd, spanCost } from '../../core/cost.js';
import { attemptSpan } from '../../workflows/attempt-cost.js';
import type { AttemptView } from '../../workflows/managed-job-types.js';
import { placementLabel } from '../../core/failover.js';
import { formatHourly } from '../../core/optimizer-table.js';
import type { CliContext } from '../context.js';
import { managedJobView, parseJobId } from '../managed-job-client.js';
import { duration, formatTable } from '../table.js';

export async function jobsDescribe(ctx: CliContext, idArg: string, flags: { json?: boolean }): Promise<number> {
  const client = await ctx.client();
  const view = await managedJobView(client, parseJobId(idArg));
  if (flags.json) {
    ctx.line(JSON.stringify(view, null, 2));
    return 0;
  }
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
        a.reason ?? '',
      ]),
    ),
  );
  return 0;
}

/** What an attempt's machines cost, up to now while they run. */
function attemptCost(a: AttemptView): number {
  const span = attemptSpan(a);
  return span ? spanCost(span, Date.now()) : 0;
}

// Handler of `petrel cost-report`: one visibility listing of clusters and managed jobs; each
// workflow's memo holds the billed spans of its machines (core/cost.ts), so nothing is queried
// per workflow. A span still open is priced up to now, or up to when its workflow closed.
import { COST_MEMO_KEY, formatUsd, spanCost, spanHours, type BilledSpan, type CostMemo } from '../../core/cost.js';
import type { CliContext } from '../context.js';
import { currentUser } from '../cluster-requests.js';
import { duration, formatTable } from '../table.js';
import { attribute, literal, visibleTo } from '../visibility.js';

export interface CostRow {
  kind: 'cluster' | 'job';
  /** cluster name, or job id */
  id: string;
  name: string | null;
  user: string | null;
  status: string;
  /** where it ran: its billed spans, or the infra its search attributes name (free infra) */
  infra: string[];
  instanceTypes: string[];
  /** hours its machines ran (wall-clock, not node-hours) */
  hours: number;
  costUsd: number;
  running: boolean;
  /** each stretch of billed machines with what it cost */
  spans: Array<BilledSpan & { hours: number; costUsd: number }>;
}

export interface CostReport {
  rows: CostRow[];
  byUser: Record<string, number>;
  byInfra: Record<string, number>;
  totalUsd: number;
}

export async function costReport(ctx: CliContext, flags: { allUsers?: boolean; json?: boolean }): Promise<number> {
  const me = currentUser();
  const client = await ctx.client();
  // A pipeline's machines are its steps' (job-task): each step is billed on its own row, `ID/TASK`.
  const query = [`PetrelKind IN (${['cluster', 'job', 'job-task'].map(literal).join(', ')})`, ...(flags.allUsers ? [] : [visibleTo(me)])].join(' AND ');
  const rows: CostRow[] = [];
  const now = Date.now();
  for await (const wf of client.workflow.list({ query })) {
    const memo = (wf.memo ?? {}) as Record<string, unknown>;
    if (memo.execution) continue;
    const spans = (memo[COST_MEMO_KEY] as CostMemo | undefined)?.spans ?? [];
    const until = wf.closeTime?.getTime() ?? now;
    const step = /^job\/(\d+\/\d+)$/.exec(wf.workflowId)?.[1];
    const kind = attribute(wf, 'PetrelKind') === 'cluster' ? 'cluster' : 'job';
    const priced = spans.map((s) => ({ ...s, hours: spanHours(s, until), costUsd: spanCost(s, until) }));
    rows.push({
      kind,
      id: step ?? (kind === 'job' ? (attribute(wf, 'PetrelJobId') ?? wf.workflowId.replace(/^job\//, '')) : (attribute(wf, 'PetrelCluster') ?? wf.workflowId.replace(/^cluster\//, ''))),
      name: kind === 'job' ? (attribute(wf, 'PetrelJobName') ?? null) : null,
      user: attribute(wf, 'PetrelUser') ?? null,
      status: attribute(wf, 'PetrelStatus') ?? wf.status.name,
      infra: spans.length ? spans.map((s) => s.infra) : [[attribute(wf, 'PetrelInfra'), attribute(wf, 'PetrelRegion')].filter(Boolean).join('/') || '-'],
      instanceTypes: [...new Set(spans.flatMap((s) => (s.instanceType ? [s.instanceType] : [])))],
      hours: priced.reduce((h, s) => h + s.hours, 0),
      costUsd: priced.reduce((sum, s) => sum + s.costUsd, 0),
      running: !wf.closeTime && spans.some((s) => !s.endedAt),
      spans: priced,
    });
  }
  rows.sort((a, b) => b.costUsd - a.costUsd || a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id, undefined, { numeric: true }));
  const report = summarize(rows);
  if (flags.json) {
    ctx.line(JSON.stringify(report, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    ctx.line('No clusters or managed jobs.');
    return 0;
  }
  ctx.line(
    formatTable(
      ['KIND', 'ID', 'NAME', ...(flags.allUsers ? ['USER'] : []), 'INFRA', 'INSTANCE', 'BILLED', 'COST', 'STATUS'],
      rows.map((r) => [
        r.kind,
        r.id,
        r.name ?? '-',
        ...(flags.allUsers ? [r.user ?? '-'] : []),
        r.infra.length > 2 ? `${r.infra[0]} (+${r.infra.length - 1} more)` : r.infra.join(', '),
        r.instanceTypes.join(', ') || '-',
        r.hours > 0 ? duration(new Date(0).toISOString(), new Date(r.hours * 3_600_000).toISOString()) : '-',
        formatUsd(r.costUsd) + (r.running ? ' (running)' : ''),
        r.status,
      ]),
    ),
  );
  ctx.line('');
  if (flags.allUsers) ctx.line(`By user:  ${entries(report.byUser)}`);
  ctx.line(`By infra: ${entries(report.byInfra)}`);
  ctx.line(`Total:    ${formatUsd(report.totalUsd)}`);
  return 0;
}

/** Totals by user, and by cloud/region of each span (a job that failed over counts where it ran). */
function summarize(rows: CostRow[]): CostReport {
  const byUser: Record<string, number> = {};
  const byInfra: Record<string, number> = {};
  for (const r of rows) {
    if (r.costUsd > 0) byUser[r.user ?? '(unknown)'] = (byUser[r.user ?? '(unknown)'] ?? 0) + r.costUsd;
    for (const s of r.spans) {
      const where = s.infra.split('/').slice(0, 2).join('/');
      if (s.costUsd > 0) byInfra[where] = (byInfra[where] ?? 0) + s.costUsd;
    }
  }
  return { rows, byUser, byInfra, totalUsd: rows.reduce((sum, r) => sum + r.costUsd, 0) };
}

function entries(totals: Record<string, number>): string {
  const list = Object.entries(totals).sort((a, b) => b[1] - a[1]);
  return list.length ? list.map(([k, v]) => `${k} ${formatUsd(v)}`).join(', ') : '$0';
}

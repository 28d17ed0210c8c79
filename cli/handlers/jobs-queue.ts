// Handler of `petrel jobs queue`: managed jobs from one visibility query.
import type { CliContext } from '../context.js';
import { currentUser } from '../cluster-requests.js';
import { ago, duration, formatTable } from '../table.js';
import { attribute, literal, MANAGED_JOBS, NOT_ENDED } from '../visibility.js';

export interface JobRow {
  id: number;
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

export async function listJobs(ctx: CliContext, query: string): Promise<JobRow[]> {
  const client = await ctx.client();
  const rows: JobRow[] = [];
  for await (const wf of client.workflow.list({ query })) {
    const get = (name: string) => attribute(wf, name) ?? null;
    rows.push({
      id: Number(get('PetrelJobId') ?? wf.workflowId.replace(/^job\//, '')),
      name: get('PetrelJobName'),
      user: get('PetrelUser'),
      status: get('PetrelStatus') ?? 'PENDING',
      recoveries: Number(get('PetrelRecoveries') ?? 0),
      infra: get('PetrelInfra'),
      region: get('PetrelRegion'),
      resources: String((wf.memo as { resources?: string } | undefined)?.resources ?? '-'),
      submittedAt: wf.startTime.toISOString(),
      endedAt: wf.closeTime?.toISOString() ?? null,
    });
  }
  return rows.sort((a, b) => b.id - a.id);
}

export async function jobsQueue(ctx: CliContext, flags: { allUsers?: boolean; skipFinished?: boolean; json?: boolean }): Promise<number> {
  const clauses = [MANAGED_JOBS];
  if (!flags.allUsers) clauses.push(`PetrelUser = ${literal(currentUser())}`);
  if (flags.skipFinished) clauses.push(NOT_ENDED);
  const rows = await listJobs(ctx, clauses.join(' AND '));
  if (flags.json) {
    ctx.line(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    ctx.line('No managed jobs.');
    return 0;
  }
  ctx.line(
    formatTable(
      ['ID', 'NAME', ...(flags.allUsers ? ['USER'] : []), 'RESOURCES', 'SUBMITTED', 'DURATION', 'RECOVERIES', 'INFRA', 'STATUS'],
      rows.map((r) => [
        String(r.id),
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

// Handler of `petrel jobs queue [-u]`: managed jobs from one visibility query. Yours by default
// (and those recorded before users existed); everyone's with -u/--all-users.
import type { CliContext } from '../context.js';
import { currentUser } from '../cluster-requests.js';
import { ago, duration, formatTable } from '../table.js';
import { attribute, MANAGED_JOBS, NOT_ENDED, ofOtherUsers, visibleTo } from '../visibility.js';

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
  const me = currentUser();
  const clauses = [MANAGED_JOBS];
  if (flags.skipFinished) clauses.push(NOT_ENDED);
  const rows = await listJobs(ctx, [...clauses, ...(flags.allUsers ? [] : [visibleTo(me)])].join(' AND '));
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

// Handler of `petrel status [CLUSTER…] [-u]`: clusters, from one visibility query (no per-cluster
// round trips). Yours by default (and those recorded before users existed); everyone's with -u;
// clusters asked for by name whoever owns them.
import { placementLabel } from '../../core/failover.js';
import { currentUser } from '../cluster-requests.js';
import type { CliContext } from '../context.js';
import { ago, formatTable } from '../table.js';
import { attribute, literal, ofOtherUsers, RUNNING_CLUSTERS, visibleTo } from '../visibility.js';

interface ClusterRow {
  name: string;
  infra: string;
  region: string | null;
  /** the zone (Slurm: partition), once provisioned */
  zone: string | null;
  /** the infrastructure's name for the cluster, once provisioned (e.g. "Slurm job 12") */
  label: string | null;
  resources: string;
  status: string;
  autostop: string;
  launchedAt: string;
  /** who launched it; null if it was recorded before users existed */
  user: string | null;
}

export async function status(ctx: CliContext, names: string[], flags: { json?: boolean; allUsers?: boolean }): Promise<number> {
  const client = await ctx.client();
  const me = currentUser();
  const clauses = [RUNNING_CLUSTERS];
  if (names.length > 0) clauses.push(`WorkflowId IN (${names.map((n) => literal(`cluster/${n}`)).join(', ')})`);
  else if (!flags.allUsers) clauses.push(visibleTo(me));
  const rows: ClusterRow[] = [];
  for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
    const get = (name: string) => attribute(wf, name) ?? null;
    const memo = (wf.memo ?? {}) as { resources?: string; autostop?: { idleMinutes: number; down: boolean } | null; zone?: string | null; label?: string | null };
    rows.push({
      name: get('PetrelCluster') ?? wf.workflowId.replace(/^cluster\//, ''),
      infra: get('PetrelInfra') ?? '-',
      region: get('PetrelRegion'),
      zone: memo.zone ?? null,
      label: memo.label ?? null,
      resources: memo.resources ?? '-',
      status: get('PetrelStatus') ?? 'INIT',
      autostop: memo.autostop ? `${memo.autostop.idleMinutes}m${memo.autostop.down ? ' (down)' : ''}` : '-',
      launchedAt: wf.startTime.toISOString(),
      user: get('PetrelUser'),
    });
  }
  rows.sort((a, b) => a.name.localeCompare(b.name));
  if (flags.json) {
    ctx.line(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    ctx.line('No existing clusters.');
    if (names.length === 0 && !flags.allUsers) {
      const { count } = await client.workflow.count(`${RUNNING_CLUSTERS} AND ${ofOtherUsers(me)}`);
      if (count > 0) ctx.note(`${count} cluster${count > 1 ? 's' : ''} of other users not shown (you are ${me}); see petrel status -u`);
    }
    return 0;
  }
  // The USER column whenever the rows may be someone else's.
  const withUser = !!flags.allUsers || rows.some((r) => r.user !== null && r.user !== me);
  ctx.line(
    formatTable(
      ['NAME', ...(withUser ? ['USER'] : []), 'INFRA', 'RESOURCES', 'STATUS', 'AUTOSTOP', 'LAUNCHED'],
      rows.map((r) => [
        r.name,
        ...(withUser ? [r.user ?? '-'] : []),
        placementLabel({ cloud: r.infra, region: r.region ?? undefined, zone: r.zone ?? undefined }) + (r.label ? ` (${r.label})` : ''),
        r.resources,
        r.status,
        r.autostop,
        ago(r.launchedAt),
      ]),
    ),
  );
  return 0;
}

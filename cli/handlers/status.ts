// Handler of `petrel status [CLUSTER…]`: clusters, from one visibility query (no per-cluster round trips).
import type { CliContext } from '../context.js';
import { ago, formatTable } from '../table.js';
import { attribute, RUNNING_CLUSTERS } from '../visibility.js';

interface ClusterRow {
  name: string;
  infra: string;
  region: string | null;
  resources: string;
  status: string;
  autostop: string;
  launchedAt: string;
  user: string | null;
}


export async function status(ctx: CliContext, names: string[], flags: { json?: boolean }): Promise<number> {
  const client = await ctx.client();
  const rows: ClusterRow[] = [];
  for await (const wf of client.workflow.list({ query: RUNNING_CLUSTERS })) {
    const get = (name: string) => attribute(wf, name) ?? null;
    const memo = (wf.memo ?? {}) as { resources?: string; autostop?: { idleMinutes: number; down: boolean } | null };
    const name = get('PetrelCluster') ?? wf.workflowId.replace(/^cluster\//, '');
    if (names.length > 0 && !names.includes(name)) continue;
    rows.push({
      name,
      infra: get('PetrelInfra') ?? '-',
      region: get('PetrelRegion'),
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
    return 0;
  }
  ctx.line(
    formatTable(
      ['NAME', 'INFRA', 'RESOURCES', 'STATUS', 'AUTOSTOP', 'LAUNCHED'],
      rows.map((r) => [r.name, r.infra + (r.region ? `/${r.region}` : ''), r.resources, r.status, r.autostop, ago(r.launchedAt)]),
    ),
  );
  return 0;
}

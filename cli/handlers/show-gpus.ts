// Handler of `petrel show-gpus`: a worker lists what each infra reports (Kubernetes nodes,
// Slurm partitions) with its own credentials; the CLI filters and prints.
import { acceleratorMatches } from '../../core/accelerator-match.js';
import { INFRA_NAMES } from '../../core/names.js';
import { parseInfra } from '../../core/spec/infra.js';
import { describeWorker, type GpuAvailability, type ListGpusResult } from '../../core/worker-ops.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { formatTable } from '../table.js';
import { runWorkerOperation } from '../worker-ops.js';

export async function showGpus(ctx: CliContext, accelerator: string | undefined, flags: { infra?: string; json?: boolean }): Promise<number> {
  let where: { cloud?: string; region?: string; zone?: string } = {};
  if (flags.infra !== undefined) {
    const parsed = parseInfra(flags.infra);
    if (!parsed.ok) throw new UserError(`--infra: ${parsed.problems[0]!.message}`);
    where = parsed.value;
    if (where.cloud && !(INFRA_NAMES as readonly string[]).includes(where.cloud)) throw new UserError(`--infra: Petrel does not run on '${where.cloud}' yet; it supports: ${INFRA_NAMES.join(', ')}`);
  }
  const client = await ctx.client();
  const { worker, gpus, problems } = await runWorkerOperation<ListGpusResult>(client, 'show-gpus', {
    op: 'listGpus',
    args: [{ only: where.cloud ? [where.cloud] : [] }],
    what: 'petrel show-gpus',
  });
  if (!ctx.config.embedded) ctx.note(`Listed by ${describeWorker(worker)}.`);
  const rows = gpus.filter(
    (g) => (!where.region || g.region === where.region) && (!where.zone || g.zone === where.zone) && (!accelerator || acceleratorMatches(accelerator, g.type)),
  );
  for (const p of problems) ctx.note(`Could not ask ${p}`);
  if (flags.json) {
    ctx.line(JSON.stringify(rows, null, 2));
    return rows.length > 0 ? 0 : 1;
  }
  if (rows.length === 0) {
    const what = accelerator ? `no ${accelerator}` : 'no accelerators';
    const known = [...new Set(gpus.map((g) => g.type))];
    ctx.line(`${what}${flags.infra ? ` on ${flags.infra}` : ''}${accelerator && known.length ? `; accelerators there: ${known.join(', ')}` : ''}`);
    return 1;
  }
  ctx.line(formatTable(['INFRA', 'ACCELERATOR', 'FREE', 'TOTAL', 'NODES', 'MOST PER NODE'], rows.map(row)));
  return 0;
}

function row(g: GpuAvailability): string[] {
  return [[g.infra, g.region, g.zone].filter(Boolean).join('/'), g.type, String(g.free), String(g.total), String(g.nodes), String(g.perNode)];
}

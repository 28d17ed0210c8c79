// Handler of `petrel show-gpus`: the clouds' accelerators with prices from the built-in catalogs
// (no worker needed), and what the worker's own clusters have — Kubernetes nodes, Slurm
// partitions — listed by a worker with its credentials. The CLI filters and prints.
import { acceleratorMatches } from '../../core/accelerator-match.js';
import { pricedClouds } from '../../core/catalog/index.js';
import { INFRA_NAMES } from '../../core/names.js';
import { catalogGpuRows, formatGpuTable, type GpuPriceRow } from '../../core/optimizer.js';
import { parseInfra } from '../../core/spec/infra.js';
import { describeWorker, type GpuAvailability, type ListGpusResult } from '../../core/worker-ops.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { formatTable } from '../table.js';
import { runWorkerOperation } from '../worker-ops.js';

export async function showGpus(ctx: CliContext, accelerator: string | undefined, flags: { infra?: string; allRegions?: boolean; json?: boolean }): Promise<number> {
  let where: { cloud?: string; region?: string; zone?: string } = {};
  if (flags.infra !== undefined) {
    const parsed = parseInfra(flags.infra);
    if (!parsed.ok) throw new UserError(`--infra: ${parsed.problems[0]!.message}`);
    where = parsed.value;
    if (where.cloud && !(INFRA_NAMES as readonly string[]).includes(where.cloud)) throw new UserError(`--infra: Petrel does not run on '${where.cloud}' yet; it supports: ${INFRA_NAMES.join(', ')}`);
  }
  const priced = pricedClouds();
  const askCatalog = !where.cloud || priced.includes(where.cloud);
  const askWorker = !where.cloud || !priced.includes(where.cloud);

  const prices = askCatalog
    ? catalogGpuRows({ ...(accelerator ? { accelerator } : {}), ...(where.cloud ? { cloud: where.cloud } : {}), ...(where.region ? { region: where.region } : {}) })
    : [];
  let owned: GpuAvailability[] = [];
  let known: string[] = [];
  if (askWorker) {
    const client = await ctx.client();
    const { worker, gpus, problems } = await runWorkerOperation<ListGpusResult>(client, 'show-gpus', {
      op: 'listGpus',
      args: [{ only: where.cloud ? [where.cloud] : [] }],
      what: 'petrel show-gpus',
    });
    if (!ctx.config.embedded) ctx.note(`Listed by ${describeWorker(worker)}.`);
    for (const p of problems) ctx.note(`Could not ask ${p}`);
    owned = gpus.filter(
      (g) => (!where.region || g.region === where.region) && (!where.zone || g.zone === where.zone) && (!accelerator || acceleratorMatches(accelerator, g.type)),
    );
    known = [...new Set(gpus.map((g) => g.type))];
  }

  const found = owned.length + prices.length;
  if (flags.json) {
    ctx.line(JSON.stringify([...owned, ...prices.map(priceJson)], null, 2));
    return found > 0 ? 0 : 1;
  }
  if (found === 0) {
    const what = accelerator ? `no ${accelerator}` : 'no accelerators';
    ctx.line(`${what}${flags.infra ? ` on ${flags.infra}` : ''}${accelerator && known.length ? `; accelerators there: ${known.join(', ')}` : ''}`);
    return 1;
  }
  const sections: string[] = [];
  if (owned.length > 0) sections.push(formatTable(['INFRA', 'ACCELERATOR', 'FREE', 'TOTAL', 'NODES', 'MOST PER NODE'], owned.map(row)));
  if (prices.length > 0) sections.push(formatGpuTable(prices, { allRegions: !!flags.allRegions || !!where.region }));
  ctx.line(sections.join('\n\n'));
  return 0;
}

function row(g: GpuAvailability): string[] {
  return [[g.infra, g.region, g.zone].filter(Boolean).join('/'), g.type, String(g.free), String(g.total), String(g.nodes), String(g.perNode)];
}

/** A catalog row in the listing's JSON: `infra`, `region` and `type` as for clusters' rows, plus prices. */
function priceJson(r: GpuPriceRow) {
  const { cloud, accelerator, ...rest } = r;
  return { infra: cloud, type: accelerator, ...rest };
}

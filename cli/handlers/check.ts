// Handler of `petrel check`: which infrastructure Petrel can use. A worker answers, with its
// credentials and config (where jobs are launched from), not the laptop's.
import { INFRA_NAMES } from '../../core/names.js';
import { describeWorker, type CheckInfraResult } from '../../core/worker-ops.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { formatTable } from '../table.js';
import { runWorkerOperation } from '../worker-ops.js';

export async function check(ctx: CliContext, asked: string[], flags: { json?: boolean }): Promise<number> {
  const known: readonly string[] = INFRA_NAMES;
  // SkyPilot's short name for Kubernetes works here as in --infra.
  const only = asked.map((n) => (n.toLowerCase() === 'k8s' ? 'kubernetes' : n));
  const unknown = only.filter((n) => !known.includes(n));
  if (unknown.length > 0) throw new UserError(`unknown infra ${unknown.map((n) => `'${n}'`).join(', ')}; Petrel supports: ${known.join(', ')}`);
  const client = await ctx.client();
  const { worker, results } = await runWorkerOperation<CheckInfraResult>(client, 'check', {
    op: 'checkInfra',
    args: [{ only }],
    what: 'petrel check',
  });
  // The embedded worker is this home's own; a remote one is named, since its answer is its own.
  if (!ctx.config.embedded) ctx.note(`Checked by ${describeWorker(worker)}.`);
  if (flags.json) ctx.line(JSON.stringify(results, null, 2));
  else ctx.line(formatTable(['INFRA', 'ENABLED', 'DETAIL'], results.map((r) => [r.provider, r.enabled ? 'yes' : 'no', r.detail])));
  return results.some((r) => r.enabled) ? 0 : 1;
}

// Handler of `petrel check`: which infrastructure Petrel can use here.
import { getProvider, providerNames } from '../../providers/registry.js';
import type { CliContext } from '../context.js';
import { formatTable } from '../table.js';


export async function check(ctx: CliContext, only: string[], flags: { json?: boolean }): Promise<number> {
  const names = only.length > 0 ? only : providerNames();
  const results = await Promise.all(names.map((n) => getProvider(n, { home: ctx.home }).check()));
  if (flags.json) ctx.line(JSON.stringify(results, null, 2));
  else ctx.line(formatTable(['INFRA', 'ENABLED', 'DETAIL'], results.map((r) => [r.provider, r.enabled ? 'yes' : 'no', r.detail])));
  return results.some((r) => r.enabled) ? 0 : 1;
}

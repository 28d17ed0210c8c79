// `petrel status [CLUSTER…] [-u]`: clusters, from one visibility query (no per-cluster round trips).
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('list clusters')
    .argument('[clusters...]', 'only these clusters (whoever launched them)')
    .option('-u, --all-users', "include other users' clusters (default: only yours)")
    .option('--json', 'machine-readable output')
    .action(lazy(() => import('../handlers/status.js'), 'status'));
}

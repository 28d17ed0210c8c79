// `petrel down CLUSTER…|-a [-u]`: tear clusters down and wait until nothing is left.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerDown(program: Command): void {
  program
    .command('down')
    .description('tear down clusters')
    .argument('[clusters...]', 'cluster names')
    .option('-a, --all', 'every cluster of yours')
    .option('-u, --all-users', "also other users' clusters; alone: every cluster of every user")
    .option('-y, --yes', 'do not ask for confirmation')
    .action(lazy(() => import('../handlers/down.js'), 'down'));
}

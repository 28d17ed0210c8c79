// `petrel down CLUSTER…|-a`: tear clusters down and wait until nothing is left.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerDown(program: Command): void {
  program
    .command('down')
    .description('tear down clusters')
    .argument('[clusters...]', 'cluster names')
    .option('-a, --all', 'every cluster')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(lazy(() => import('../handlers/down.js'), 'down'));
}

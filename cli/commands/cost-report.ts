// `petrel cost-report`: what clusters and managed jobs cost, from the spans their workflows keep.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerCostReport(program: Command): void {
  program
    .command('cost-report')
    .description('cost of every cluster and managed job (instance price × time its machines ran), by user and infra')
    .option('-u, --all-users', "include other users' clusters and jobs (default: only yours)")
    .option('--json', 'machine-readable output')
    .action(lazy(() => import('../handlers/cost-report.js'), 'costReport'));
}

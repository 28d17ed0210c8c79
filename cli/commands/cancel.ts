// `petrel cancel CLUSTER JOB…|-a [-u]`: stop jobs on a cluster's queue; the cluster stays up.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerCancel(program: Command): void {
  program
    .command('cancel')
    .description('cancel jobs on a cluster')
    .argument('<cluster>', 'cluster name')
    .argument('[jobs...]', 'job ids')
    .option('-a, --all', 'every job that has not ended')
    .option('-u, --all-users', "allow another user's cluster; alone: every job that has not ended")
    .action(lazy(() => import('../handlers/cancel.js'), 'cancel'));
}

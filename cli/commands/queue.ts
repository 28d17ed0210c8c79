// `petrel queue CLUSTER…`: the job queue of each cluster.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerQueue(program: Command): void {
  program
    .command('queue')
    .description("show a cluster's job queue")
    .argument('<clusters...>', 'cluster names')
    .option('-s, --skip-finished', 'only jobs that have not ended')
    .option('--json', 'machine-readable output')
    .action(lazy(() => import('../handlers/queue.js'), 'queue'));
}

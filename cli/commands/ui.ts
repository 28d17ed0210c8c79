// `petrel ui`: the Temporal web UI's address of a job, pipeline or cluster.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerUi(program: Command): void {
  program
    .command('ui')
    .description("print the Temporal UI's URL of a managed job or pipeline (ID), a cluster (NAME), or of the workflow list")
    .argument('[target]', 'job id or cluster name')
    .option('--open', 'also open it in a browser (xdg-open)')
    .action(lazy(() => import('../handlers/ui.js'), 'ui'));
}

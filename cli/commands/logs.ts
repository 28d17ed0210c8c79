// `petrel logs CLUSTER [JOB] [--follow]`: a job's setup and run output.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerLogs(program: Command): void {
  program
    .command('logs')
    .description("print a job's output (the latest job by default)")
    .argument('<cluster>', 'cluster name')
    .argument('[job]', 'job id')
    .option('-f, --follow', 'keep streaming until the job ends')
    .option('--no-follow', 'print what there is and exit (default)')
    .option('--status', "exit with the job's exit code")
    .action(lazy(() => import('../handlers/logs.js'), 'logs'));
}

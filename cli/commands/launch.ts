// `petrel launch [YAML|CMD]`: provision (or reuse) a cluster, run setup and the task on it.
import type { Command } from 'commander';
import { lazy } from '../command.js';
import { addTaskFlags } from '../task-flags.js';

export function registerLaunch(program: Command): void {
  addTaskFlags(
    program
      .command('launch')
      .description('launch a cluster (or reuse one) and run a task on it')
      .argument('[entrypoint]', 'task YAML file, or a command to run')
      .option('-c, --cluster <name>', 'cluster name (default: generated)')
      .option('-d, --detach-run', 'return once the job is submitted')
      .option('--down', 'tear the cluster down when its jobs are done')
      .option('-i, --idle-minutes-to-autostop <min>', 'stop (or with --down, tear down) after this many idle minutes')
      .option('--dryrun', 'show the plan without launching anything')
      .option('--json', 'with --dryrun: the plan and the task as JSON')
      .option('-y, --yes', 'do not ask for confirmation'),
  ).action(lazy(() => import('../handlers/launch.js'), 'launch'));
}

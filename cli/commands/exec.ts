// `petrel exec CLUSTER [YAML|CMD]`: run a task on an existing cluster (no provisioning, no setup).
import type { Command } from 'commander';
import { lazy } from '../command.js';
import { addTaskFlags } from '../task-flags.js';

export function registerExec(program: Command): void {
  addTaskFlags(
    program
      .command('exec')
      .description("run a task on an existing cluster's job queue (skips provisioning and setup)")
      .argument('<cluster>', 'cluster name')
      .argument('[entrypoint]', 'task YAML file, or a command to run')
      .option('-d, --detach-run', 'return once the job is submitted'),
  ).action(lazy(() => import('../handlers/exec.js'), 'exec'));
}

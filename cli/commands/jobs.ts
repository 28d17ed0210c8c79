// `petrel jobs …`: managed jobs, which recover from preemption and fail over on their own.
import { Option, type Command } from 'commander';
import { lazy } from '../command.js';
import { addTaskFlags } from '../task-flags.js';

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('managed jobs: recovered after preemption, failed over across regions');
  addTaskFlags(
    jobs
      .command('launch')
      .description('submit a managed job')
      .argument('[entrypoint]', 'task YAML file, or a command to run')
      .option('-d, --detach-run', 'return once the job is submitted')
      .option('--job-recovery <strategy>', 'EAGER_NEXT_REGION (default) or FAILOVER')
      .option('-r, --retry-until-up', 'keep retrying when no placement has capacity')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--dryrun', 'show where the job would run (chosen placement first, then the failover order, with prices) and submit nothing')
      .option('--max-cost <usd>', 'end the job (FAILED_BUDGET) before its machines\' spend would pass this many USD (default: jobs.max_cost in config.yaml)')
      .option('--count <n>', 'with -d: submit N jobs of this task, each with PETREL_JOB_INDEX=0..N-1 (and name NAME-<index>)')
      .option('--sweep <KEY=V1,V2,...>', 'with -d: one job per value, each with env KEY set to it; several --sweep give every combination (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
      .option('--json', 'with -d: print the submitted jobs (id, name, index, swept envs) as JSON; with --dryrun: the plan')
      .option('--resume <id>', 'same as petrel jobs resume ID'),
  ).action(lazy(() => import('../handlers/jobs-launch.js'), 'jobsLaunch'));
  jobs
    .command('resume')
    .description('run a FAILED or CANCELLED pipeline again from its first step that did not succeed (steps that succeeded are not rerun)')
    .argument('<id>', 'job id of the pipeline')
    .option('-d, --detach-run', 'return once the pipeline is resubmitted')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(lazy(() => import('../handlers/jobs-pipeline.js'), 'jobsResume'));
  jobs
    .command('queue')
    .description('list managed jobs')
    .option('-u, --all-users', "include other users' jobs (default: only yours)")
    // Petrel's first spelling of --all-users, still accepted.
    .addOption(new Option('-a', 'same as -u, --all-users').hideHelp().implies({ allUsers: true }))
    .option('-s, --skip-finished', 'only jobs that have not ended')
    .option('--json', 'machine-readable output')
    .action(lazy(() => import('../handlers/jobs-queue.js'), 'jobsQueue'));
  jobs
    .command('logs')
    .description("a managed job's output, across its recoveries")
    .argument('<id>', 'job id')
    .option('-f, --follow', 'keep streaming until the job ends')
    .option('--task <n|name>', "a pipeline's or job group's task: its index (0, 1, ...) or name (default: every task, in order)")
    .action(lazy(() => import('../handlers/jobs-logs.js'), 'jobsLogs'));
  jobs
    .command('cancel')
    .description('cancel managed jobs; their machines are torn down')
    .argument('[ids...]', 'job ids')
    .option('-n, --name <name>', 'every live job with this name')
    .option('-a, --all', 'every live job of yours')
    .option('-u, --all-users', "also other users' jobs; alone: every live job of every user")
    .option('-y, --yes', 'do not ask for confirmation')
    .action(lazy(() => import('../handlers/jobs-cancel.js'), 'jobsCancel'));
  jobs
    .command('checkpoints')
    .description("a managed job's checkpoint snapshots; --download DIR fetches one (the newest by default)")
    .argument('<id>', 'job id')
    .option('--task <n|name>', "a pipeline's task: its index or name")
    .option('--download <dir>', 'write the snapshot\'s files into DIR')
    .option('--snapshot <n>', 'with --download: this snapshot instead of the newest')
    .option('--json', 'machine-readable output')
    .action(lazy(() => import('../handlers/jobs-checkpoints.js'), 'jobsCheckpoints'));
  jobs
    .command('describe')
    .description('a managed job and every attempt it made: where, when, and why it ended')
    .argument('<id>', 'job id')
    .option('--task <n|name>', "only this task of a pipeline or job group: its index (0, 1, ...) or name")
    .option('--json', 'machine-readable output')
    .action(lazy(() => import('../handlers/jobs-describe.js'), 'jobsDescribe'));
}

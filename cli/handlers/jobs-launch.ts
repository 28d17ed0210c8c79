// Handler of `petrel jobs launch`: start the job's managedJob workflow and follow it (unless
// -d) across recoveries; exits with the job's exit code. With --count/--sweep it submits a
// batch of detached jobs of one task from this one process.
import { formatUsd } from '../../core/cost.js';
import { redactTask } from '../../core/spec/index.js';
import { ENV_NAME } from '../../core/spec/env.js';
import type { TaskSpec } from '../../core/task.js';
import type { ManagedJobInput } from '../../workflows/managed-job-types.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { missingOutputNote } from '../log-silence.js';
import { followManagedJob, managedJobExitCode, managedJobWorkflowId } from '../managed-job-client.js';
import { managedJobInput, submitManagedJob, submitManagedJobs } from '../managed-job-submit.js';
import { previewPlan, renderPlan } from '../plan-preview.js';
import { confirm } from '../prompt.js';
import type { TaskFlags } from '../task-flags.js';
import { flagKey, loadTask, pipelineIn } from '../task-input.js';
import { jobsResume, launchPipeline } from './jobs-pipeline.js';
import { noteUiLink } from './ui.js';

interface JobsLaunchFlags extends TaskFlags {
  resume?: string;
  detachRun?: boolean;
  jobRecovery?: string;
  retryUntilUp?: boolean;
  yes?: boolean;
  count?: string;
  sweep?: string[];
  json?: boolean;
  dryrun?: boolean;
  maxCost?: string;
}

/** What `--json` prints for each submitted job. */
interface SubmittedJob {
  id: number;
  name: string | null;
  /** PETREL_JOB_INDEX (null for a single job, which has none) */
  index: number | null;
  /** the --sweep values this job got */
  envs: Record<string, string>;
}

export async function jobsLaunch(ctx: CliContext, entrypoint: string | undefined, flags: JobsLaunchFlags): Promise<number> {
  if (flags.resume !== undefined) {
    if (entrypoint !== undefined) throw new UserError(`--resume ${flags.resume}: resumes the pipeline as it was submitted; give no task file`);
    return jobsResume(ctx, flags.resume, flags);
  }
  const pipeline = pipelineIn(entrypoint);
  if (pipeline) return launchPipeline(ctx, pipeline, flags);
  if (flags.dryrun) return jobsDryrun(ctx, entrypoint, flags);
  if (flags.count !== undefined || flags.sweep !== undefined) return jobsLaunchBatch(ctx, entrypoint, flags);
  if (flags.json && !flags.detachRun) throw new UserError('--json prints the ids of submitted jobs; it needs -d (without -d, jobs launch streams the job\'s output)');
  const { task, file } = loadTask(entrypoint, flags, 'jobs launch');
  const base = managedJobInput(ctx.home, task, file ?? 'command line', flags);
  ctx.note(`Managed job${task.name ? ` '${task.name}'` : ''}: ${base.resourcesSummary}, recovery ${base.recovery.strategy}`);
  if (!(await confirm('Submit?', !!flags.yes))) return 1;
  const client = await ctx.client();
  const jobId = await submitManagedJob(client, base);
  if (flags.detachRun) {
    ctx.note(`Managed job ${jobId} submitted. Follow it with: petrel jobs logs ${jobId} --follow`);
    noteUiLink(ctx, managedJobWorkflowId(jobId));
    if (flags.json) ctx.line(JSON.stringify([{ id: jobId, name: base.name ?? null, index: null, envs: {} } satisfies SubmittedJob], null, 2));
    else ctx.line(String(jobId));
    return 0;
  }
  ctx.note(`Managed job ${jobId} submitted.`);
  noteUiLink(ctx, managedJobWorkflowId(jobId));
  const { view, report } = await followManagedJob(ctx, client, jobId, { follow: true, progress: true });
  const missing = missingOutputNote(`managed job ${jobId}`, report);
  if (missing) ctx.note(missing);
  const recoveries = view.recoveries ? ` after ${view.recoveries} recover${view.recoveries === 1 ? 'y' : 'ies'}` : '';
  ctx.note(`Managed job ${jobId} ${view.status}${recoveries}${view.message ? `: ${view.message}` : ''}.`);
  return managedJobExitCode(view);
}

/** `--dryrun`: the plan (chosen placement first, then the failover order with prices); submits nothing. */
function jobsDryrun(ctx: CliContext, entrypoint: string | undefined, flags: JobsLaunchFlags): number {
  const { task, file } = loadTask(entrypoint, flags, 'jobs launch');
  const where = file ?? 'command line';
  const base = managedJobInput(ctx.home, task, where, flags);
  const plan = previewPlan(task, where);
  if (flags.json) {
    ctx.line(JSON.stringify({ resources: base.resourcesSummary, maxCostUsd: base.maxCostUsd ?? null, recovery: base.recovery, plan, task: redactTask(task) }, null, 2));
  } else {
    ctx.line(renderPlan(plan, task, where));
    if (base.maxCostUsd !== undefined) ctx.line(`Budget: the job ends (FAILED_BUDGET) before its spend would pass ${formatUsd(base.maxCostUsd)}.`);
  }
  return plan.entries.length > 0 ? 0 : 1;
}

// ---- batches: --count N and --sweep KEY=V1,V2,... ----

/** A typo such as --count 1000000 should not flood the server; ten times the 10,000-job target. */
const MAX_BATCH = 100_000;
const INDEX_ENV = 'PETREL_JOB_INDEX';

interface Sweep {
  key: string;
  values: string[];
}

function parseCount(raw: string | undefined): number {
  if (raw === undefined) return 1;
  const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UserError(`--count: '${raw}' is not a positive whole number`);
  if (n > MAX_BATCH) throw new UserError(`--count: ${n} is more jobs than one batch submits (at most ${MAX_BATCH.toLocaleString('en-US')})`);
  return n;
}

function parseSweeps(items: string[]): Sweep[] {
  const sweeps: Sweep[] = [];
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new UserError(`--sweep '${item}': expected KEY=V1,V2,... (e.g. --sweep LR=0.1,0.01)`);
    const key = item.slice(0, eq);
    if (!ENV_NAME.test(key)) {
      throw new UserError(`--sweep ${item}: '${key}' is not a valid variable name; use letters, digits and '_', not starting with a digit`);
    }
    if (key === INDEX_ENV) throw new UserError(`--sweep ${key}: Petrel sets ${INDEX_ENV} itself (0 to N-1, one per job of the batch)`);
    if (sweeps.some((s) => s.key === key)) throw new UserError(`--sweep ${key}: given twice; list all its values in one --sweep ${key}=V1,V2,...`);
    const values = item.slice(eq + 1).split(',');
    if (values.some((v) => v === '')) {
      throw new UserError(`--sweep ${item}: ${values.length === 1 ? 'no value' : 'an empty value'}; give one or more values separated by ',' (e.g. --sweep ${key}=1,2,3)`);
    }
    sweeps.push({ key, values });
  }
  return sweeps;
}

/** Every combination of the sweeps' values, the first --sweep varying slowest (like nested loops). */
function combinations(sweeps: Sweep[]): Array<Record<string, string>> {
  let out: Array<Record<string, string>> = [{}];
  for (const { key, values } of sweeps) out = out.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  return out;
}

const asEnvFlags = (combo: Record<string, string>) => Object.entries(combo).map(([k, v]) => `${k}=${v}`);
const describeCombo = (combo: Record<string, string>) => asEnvFlags(combo).join(' ');

/** The task, fields aside from envs, as the job sees it: equal for two combinations unless a sweep key is substituted somewhere. */
function withoutEnvs(task: TaskSpec): string {
  const { envs: _, ...rest } = task;
  return JSON.stringify(rest);
}

/**
 * Loads and checks the task once, with the first combination's values in its envs (they may
 * fill the task's `KEY: null` placeholders). A sweep key that is also substituted into
 * workdir, file_mounts or volumes makes the task itself differ per combination: then each
 * combination is loaded and checked on its own, all before anything is submitted.
 */
function loadBatchTask(entrypoint: string | undefined, flags: JobsLaunchFlags, sweeps: Sweep[], combos: Array<Record<string, string>>) {
  const load = (combo: Record<string, string>, note?: (line: string) => void) =>
    loadTask(entrypoint, { ...flags, env: [...(flags.env ?? []), ...asEnvFlags(combo)] }, 'jobs launch', note);
  // Past the first load, only the swept values differ: an error then is about this combination.
  const loadOther = (combo: Record<string, string>) => {
    try {
      return load(combo, () => undefined);
    } catch (err) {
      if (err instanceof UserError) throw new UserError(`with --sweep ${describeCombo(combo)}: ${err.message}`, err.exitCode);
      throw err;
    }
  };
  const first = load(combos[0]!);
  for (const { key } of sweeps) {
    if (Object.prototype.hasOwnProperty.call(first.task.secrets, key)) {
      throw new UserError(`--sweep ${key}: the task has a secret of that name, which would hide the swept value; sweep another name`);
    }
  }
  // One more load with a different value for every swept key tells whether any is used outside envs.
  const varying = sweeps.filter((s) => new Set(s.values).size > 1);
  if (varying.length === 0) return { file: first.file, tasks: [first.task] };
  const probe = { ...combos[0]! };
  for (const s of varying) probe[s.key] = s.values.find((v) => v !== combos[0]![s.key])!;
  if (withoutEnvs(loadOther(probe).task) === withoutEnvs(first.task)) return { file: first.file, tasks: [first.task] };
  return { file: first.file, tasks: combos.map((c, i) => (i === 0 ? first.task : loadOther(c).task)) };
}

/** `12-40, 45, 47-50`: a batch's ids are contiguous unless another submitter took some meanwhile. */
function idRanges(ids: number[], max = 6): string {
  const sorted = [...ids].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    ranges.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return ranges.length > max ? `${ranges.slice(0, max).join(', ')}, … (${ranges.length} ranges)` : ranges.join(', ');
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

async function jobsLaunchBatch(ctx: CliContext, entrypoint: string | undefined, flags: JobsLaunchFlags): Promise<number> {
  const what = flags.sweep !== undefined ? (flags.count !== undefined ? '--count and --sweep' : '--sweep') : '--count';
  // Following hundreds of jobs' output in one terminal helps nobody; each can be followed on its own.
  if (!flags.detachRun) throw new UserError(`${what}: a batch of jobs is always detached; add -d (then follow any one with petrel jobs logs ID --follow)`);
  const count = parseCount(flags.count);
  const sweeps = parseSweeps(flags.sweep ?? []);
  const fromEnvFlag = new Set((flags.env ?? []).map(flagKey));
  if (fromEnvFlag.has(INDEX_ENV)) throw new UserError(`--env ${INDEX_ENV}: a batch sets ${INDEX_ENV} itself (0 to N-1, one per job)`);
  for (const { key } of sweeps) {
    if (fromEnvFlag.has(key)) throw new UserError(`--sweep ${key}: also given with --env ${key}; give it once (--sweep ${key}=V1,V2,... for several values)`);
  }
  const combos = combinations(sweeps);
  const total = combos.length * count;
  if (total > MAX_BATCH) {
    throw new UserError(`${what}: ${plural(combos.length, 'combination')} × ${count} = ${plural(total, 'job')}, more than one batch submits (at most ${MAX_BATCH.toLocaleString('en-US')})`);
  }

  const { file, tasks } = loadBatchTask(entrypoint, flags, sweeps, combos);
  const bases = tasks.map((t) => managedJobInput(ctx.home, t, file ?? 'command line', flags));
  const first = bases[0]!;
  // Index i is repetition i % count of combination ⌊i / count⌋, so one combination's repetitions sit together.
  const comboOf = (index: number) => combos[Math.floor(index / count)]!;
  const nameOf = (index: number) => (first.name ? `${first.name}-${index}` : undefined);
  const inputFor = (index: number): Omit<ManagedJobInput, 'jobId'> => {
    const c = Math.floor(index / count);
    const base = bases.length > 1 ? bases[c]! : first;
    return { ...base, name: nameOf(index), envs: { ...base.envs, ...combos[c]!, [INDEX_ENV]: String(index) } };
  };

  const names = first.name ? ` '${nameOf(0)}'${total > 1 ? ` … '${nameOf(total - 1)}'` : ''}` : '';
  const shape = [sweeps.length ? `${plural(combos.length, 'combination')} of ${sweeps.map((s) => s.key).join(' × ')}` : '', count > 1 && sweeps.length ? `${count} of each` : '']
    .filter(Boolean)
    .join(', ');
  ctx.note(`${plural(total, 'managed job')}${names}${shape ? ` (${shape})` : ''}: ${first.resourcesSummary}, recovery ${first.recovery.strategy}`);
  if (!(await confirm(`Submit ${plural(total, 'managed job')}?`, !!flags.yes))) return 1;

  const client = await ctx.client();
  const t0 = performance.now();
  const rate = (n: number) => (n / Math.max((performance.now() - t0) / 1000, 1e-3)).toFixed(0);
  const progress = batchProgress(ctx, total, rate);
  // Ctrl-C stops new starts and still says which jobs exist; a second one exits at once.
  const interrupt = new AbortController();
  const onInterrupt = () => interrupt.abort();
  process.once('SIGINT', onInterrupt);
  let result: Awaited<ReturnType<typeof submitManagedJobs>>;
  try {
    result = await submitManagedJobs(client, total, inputFor, { onSubmitted: progress.update, signal: interrupt.signal });
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    progress.end();
  }
  const { ids, error } = result;
  const seconds = (performance.now() - t0) / 1000;
  const submitted = ids.flatMap((id, index) => (id === undefined ? [] : [{ id, index }]));

  if (flags.json) {
    const rows: SubmittedJob[] = submitted.map(({ id, index }) => ({ id, name: nameOf(index) ?? null, index, envs: comboOf(index) }));
    ctx.line(JSON.stringify(rows, null, 2));
  } else {
    for (const { id } of submitted) ctx.line(String(id));
  }
  const idList = submitted.length ? ` (ids ${idRanges(submitted.map((s) => s.id))})` : '';
  if (error !== undefined || interrupt.signal.aborted) {
    const why = error === undefined ? 'interrupted' : error instanceof Error ? error.message : String(error);
    ctx.note(`petrel: submitting stopped after ${submitted.length.toLocaleString('en-US')} of ${plural(total, 'managed job')}${idList}: ${why}`);
    if (submitted.length) ctx.note('The jobs submitted stay submitted; cancel them with petrel jobs cancel ID... if the batch should not run partly.');
    return error === undefined ? 130 : 1;
  }
  ctx.note(`Submitted ${plural(total, 'managed job')}${idList} in ${seconds.toFixed(1)} s (${rate(total)} jobs/s). Follow one with: petrel jobs logs ${submitted[0]!.id} --follow; all: petrel jobs queue`);
  return 0;
}

/** Progress on stderr for batches big enough to take a while: one line rewritten on a terminal, a line every 2 s otherwise. */
function batchProgress(ctx: CliContext, total: number, rate: (n: number) => string) {
  const tty = !!process.stderr.isTTY;
  const every = tty ? 200 : 2000;
  let last = performance.now();
  let shown = false;
  const line = (done: number) => `⚙︎ submitted ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} (${rate(done)} jobs/s)`;
  return {
    update: (done: number) => {
      if (total < 100 || done === total || performance.now() - last < every) return;
      last = performance.now();
      shown = true;
      if (tty) ctx.io.err(`\r${line(done)}\u001b[K`);
      else ctx.note(line(done));
    },
    end: () => {
      if (tty && shown) ctx.io.err('\r\u001b[K');
    },
  };
}

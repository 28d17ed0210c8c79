// Real Slurm 22.05.8 daemons (test/support/slurm.ts): 3 nodes x 2 fake T4 GPUs, partitions
// low (default) and high (preempts low, PreemptMode=REQUEUE). These tests pin down how Slurm
// itself behaves, the facts the Slurm provider is designed on. Observed here (2-core VM, root):
//
// squeue -h -o '%i|%T|%r|%N' (%N is a compressed hostlist):
//   just submitted (until the scheduler's next pass, ~1 s)  8|PENDING|None|
//   waiting behind a full cluster                            14|PENDING|Resources|
//   queued behind that one                                   15|PENDING|Resources|  or  5|PENDING|Priority|
//                                                            (depends on which scheduler pass, main or
//                                                            backfill, looked last)
//   running                                                  13|RUNNING|None|n[1-3]
//   after scancel, until every node is done                  13|COMPLETING|None|n1   (%N = nodes still
//                                                            completing; a job ignoring TERM stays so for
//                                                            KillWait = 5 s, then is SIGKILLed)
//   more than one node requested than exist (-N5)            PENDING|PartitionNodeLimit| (sbatch accepts it)
//   requeued (node DOWN, or preempted without --no-requeue)  5|PENDING|None| for a moment, then
//                                                            5|PENDING|BeginTime|; scontrol: Restarts=1,
//                                                            EligibleTime = requeue + ~121 s, so it runs
//                                                            again only ~2 min later
// squeue -t all keeps every finished job for MinJobAge (300 s), with its end state:
//   1|COMPLETED|None|n1   2|FAILED|NonZeroExitCode|n1 (scontrol ExitCode=3:0)   13|CANCELLED|None|n[1-3]
//   4|NODE_FAIL|NodeDown|n2   6|PREEMPTED|None|n[1-2]   5|CANCELLED|BeginTime| (requeued, then cancelled)
//   10|FAILED|BadConstraints| : an sbatch REJECTED with "Requested node configuration is not
//   available" still uses up a job id and leaves this record; a bad partition or account does not.
// squeue -s (steps) has its own fields: -o '%i|%N' gives 16.1|n2 and 16.batch|n1, while %T there
// fails with "squeue: error: Invalid job step format specification: T".
// `squeue --me` works in 22.05 (same output as plain squeue for root).
//
// Node DOWN (scontrol update nodename=n2 state=down reason=...): its jobs are killed at once
// ("*** JOB 4 ON n2 CANCELLED AT ... DUE TO NODE FAILURE ***" in slurmd's log). With
// --no-requeue: NODE_FAIL, reason NodeDown, ExitCode 0:15, NOT requeued. Without it: requeued
// as above. sinfo -o '%T|%E' says down|<reason>. state=resume: idle again ~0.8 s later.
//
// Preemption: a -p high job on a cluster full of low jobs starts ~1 s after submit (~3 s with the
// default batch_sched_delay); the preempted --no-requeue low job ends PREEMPTED (not CANCELLED),
// ExitCode 0:15; a requeueable low job is requeued (PENDING|BeginTime, Restarts=1).
//
// sbatch/srun failures (exit code 1, Slurm's own words on stderr):
//   sbatch -p nope   sbatch: error: invalid partition specified: nope
//                    sbatch: error: Batch job submission failed: Invalid partition name specified
//   srun -p nope     srun: error: invalid partition specified: nope
//                    srun: error: Unable to allocate resources: Invalid partition name specified
//   sbatch -A nope   sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified
//   srun -A nope     srun: error: Unable to allocate resources: Invalid account or account/partition combination specified
//   sbatch --gres=gpu:T4:3 (more than a node has) or --gres=gpu:A100:1 (no such type)
//                    sbatch: error: Batch job submission failed: Requested node configuration is not available
// Without slurmdbd Slurm accepts ANY -A silently (the job runs with Account=<whatever>): the
// account message above comes from the cluster's job_submit.lua, which returns the same
// ESLURM_INVALID_ACCOUNT that slurmdbd's association check returns.
//
// GPUs: --gres=gpu:T4:1 runs with CUDA_VISIBLE_DEVICES=0 SLURM_JOB_GPUS=0; sinfo -o '%G' = gpu:T4:2.
//
// Steps in an allocation made with `sbatch --nodes=2 -w n1,n2 --wrap 'sleep 1000'`:
//   - `srun --overlap --jobid=<id> --nodelist=n2 -N1 -n1 bash -c 'echo $SLURM_STEP_ID'` runs
//     (~50 ms) and prints 0: the first step (the batch script is step "batch").
//   - `scancel --signal=TERM <id>.<step>` delivers TERM to EVERY process of the step (the task and
//     its background child), and the step runs on if they survive it. BUT when the step covers
//     fewer nodes than the allocation, scancel exits 225 with
//       scancel: error: Kill job error on job step id <id>: Invalid job id specified
//     (the signal goes to every node of the allocation and the nodes without the step say so);
//     for a step on all of the allocation's nodes it exits 0. For a step id that does not exist
//     it exits 0 silently. So its exit code says nothing about delivery.
//   - `scancel <id>.<step>` ends the step: exit 0, no output; TERM, then KILL after KillWait;
//     the srun client exits 137 ("srun: error: n2: task 0: Killed") when the task ignored TERM,
//     143 when TERM killed it; the step leaves squeue ~0.25 s later.
//   - `scancel <id>` (the allocation) ends an attached `srun --overlap` client within ~0.2 s with
//     exit code 143 and stderr
//       slurmstepd-n2: error: *** STEP 16.3 ON n2 CANCELLED AT <time> ***
//       srun: Job step aborted: Waiting up to 7 seconds for job step to finish.   (KillWait + 2)
//       srun: error: n2: task 0: Terminated
//     the job ends CANCELLED (16|CANCELLED|None|n[1-2]).
//   - A SIGKILLed srun client (own session, as `setsid srun ... &`) does NOT leave its step
//     running: slurmstepd cancels the step at once ("*** STEP 16.2 ON n2 CANCELLED ***"), the task
//     is dead ~0.1 s later and the step leaves squeue ~2.3 s later. The same with -o/-e files and
//     -i none. Whatever should outlive its launcher must be an sbatch job, not an srun step.
//
// proctrack/linuxproc (no cgroups): a process that double-forks out of its job (setsid) survives
// the job's end; SlurmCluster.stop() finds it by SLURM_CLUSTER_NAME and kills it (last test).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isZombie, markUnder, procIds, readProc } from '../support/leftovers.js';
import { alive, waitFor } from '../support/petrel.js';
import { startSlurm, type SlurmCluster } from '../support/slurm.js';

let slurm: SlurmCluster;
/** jobs that ended earlier in this file, with the state squeue -t all must still show */
const finished = new Map<string, string>();

beforeAll(async () => {
  slurm = await startSlurm({ nodes: 3, gpusPerNode: 2 });
});

afterAll(async () => {
  await slurm?.stop();
});

async function ok(cmd: string): Promise<string> {
  const r = await slurm.sh(cmd);
  if (r.code !== 0) throw new Error(`${cmd} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout.trim();
}

/** sbatch --parsable ...: the job id */
async function submit(args: string): Promise<string> {
  const id = await ok(`sbatch --parsable ${args}`);
  expect(id).toMatch(/^\d+$/);
  return id;
}

/** `%i|%T|%r|%N` of a job, finished ones included */
function line(id: string): Promise<string> {
  return ok(`squeue -h -t all -j ${id} -o '%i|%T|%r|%N'`);
}

async function waitLine(id: string, what: string, match: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
  let last = '';
  try {
    return await waitFor(`job ${id} ${what}`, async () => (match((last = await line(id))) ? last : undefined), timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last: ${last}`);
  }
}

const waitState = (id: string, state: string, timeoutMs?: number) => waitLine(id, `to be ${state}`, (l) => l.split('|')[1] === state, timeoutMs);

/** scontrol show job -o as key -> value */
async function jobInfo(id: string): Promise<Map<string, string>> {
  const out = await ok(`scontrol show job -o ${id}`);
  return new Map(out.split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]));
}

const jobFile = (name: string) => path.join(slurm.base, 'jobs', name);
const readJobFile = (name: string) => (fs.existsSync(jobFile(name)) ? fs.readFileSync(jobFile(name), 'utf8') : '');

/** a number a job wrote into a file under jobs/ (its cwd) */
function numberIn(name: string): Promise<number> {
  return waitFor(`${name} to be written`, () => {
    const text = readJobFile(name).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  });
}

function writeScript(name: string, lines: string[]): void {
  fs.writeFileSync(jobFile(name), ['#!/bin/bash', ...lines, ''].join('\n'), { mode: 0o755 });
}

/** Cancels whatever a test left, resumes nodes it left down, and waits for an empty queue and idle nodes. */
async function cleanUp(): Promise<void> {
  const down = (await ok(`sinfo -h -N -t down,drain -o '%N'`)).split('\n').filter(Boolean);
  for (const node of new Set(down)) await slurm.nodeResume(node);
  const ids = (await ok(`squeue -h -o '%i'`)).split('\n').filter(Boolean);
  if (ids.length > 0) await ok(`scancel ${ids.join(' ')}`);
  await waitFor('an empty queue', async () => (await ok(`squeue -h -o '%i'`)) === '' || undefined, 20_000);
  await slurm.waitIdle();
}

interface Client {
  pid: number;
  done: Promise<{ code: number | null; stderr: string }>;
}

/** srun from the "login node" in its own session, like a provider's `setsid srun ... &`. */
function srun(args: string[]): Client {
  const child = spawn('srun', args, { env: { ...process.env, ...slurm.env }, cwd: path.join(slurm.base, 'jobs'), detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // srun forks a helper that can hold stderr open after srun itself is gone: 'exit', not 'close'.
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => setTimeout(() => resolve({ code, stderr }), 200)));
  return { pid: child.pid!, done };
}

describe('jobs', () => {
  afterEach(cleanUp);

  it('sbatch --parsable --wrap runs a job, writes its output and reports its exit code', async () => {
    const good = await submit(`-o out-%j.txt --wrap 'echo hello from $SLURMD_NODENAME'`);
    const bad = await submit(`-o out-%j.txt --wrap 'exit 3'`);
    expect(await waitState(good, 'COMPLETED')).toMatch(new RegExp(`^${good}\\|COMPLETED\\|None\\|n\\d$`));
    expect(await waitState(bad, 'FAILED')).toMatch(new RegExp(`^${bad}\\|FAILED\\|NonZeroExitCode\\|n\\d$`));
    expect(readJobFile(`out-${good}.txt`)).toMatch(/^hello from n\d\n$/);
    expect((await jobInfo(good)).get('ExitCode')).toBe('0:0');
    expect((await jobInfo(bad)).get('ExitCode')).toBe('3:0');
    finished.set(good, 'COMPLETED').set(bad, 'FAILED');
  });

  it('srun -N2 runs one step on two nodes', async () => {
    const lines = (await ok(`srun -N2 -l bash -c 'echo $SLURMD_NODENAME step=$SLURM_STEP_ID'`)).split('\n').sort();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^0: n\d step=0$/);
    expect(lines[1]).toMatch(/^1: n\d step=0$/);
    expect(lines[0]!.split(' ')[1]).not.toBe(lines[1]!.split(' ')[1]);
  });

  it('a node set DOWN kills its jobs: NODE_FAIL with --no-requeue, requeued otherwise; resume makes it idle', async () => {
    const once = await submit(`--no-requeue -w n2 -n1 --wrap 'echo $$ > once.pid; exec sleep 1000'`);
    const again = await submit(`-w n2 -n1 --wrap 'echo $$ > again.pid; exec sleep 1000'`);
    const pids = [await numberIn('once.pid'), await numberIn('again.pid')];
    await slurm.nodeDown('n2', 'petrel test');
    expect(await waitState(once, 'NODE_FAIL')).toBe(`${once}|NODE_FAIL|NodeDown|n2`);
    expect((await jobInfo(once)).get('ExitCode')).toBe('0:15');
    // Right after the requeue it shows PENDING|None for a moment.
    await waitLine(again, 'to be requeued', (l) => l === `${again}|PENDING|BeginTime|`, 10_000);
    const requeued = await jobInfo(again);
    expect(requeued.get('Restarts')).toBe('1');
    const delay = Date.parse(requeued.get('EligibleTime')!) - Date.now();
    expect(delay).toBeGreaterThan(100_000);
    await waitFor('the jobs on n2 to be killed', () => pids.every((p) => !alive(p)) || undefined, 10_000);
    expect(await ok(`sinfo -h -n n2 -o '%T|%E'`)).toBe('down|petrel test');
    await slurm.nodeResume('n2');
    await slurm.waitIdle(10_000);
    finished.set(once, 'NODE_FAIL');
  });

  it('a -p high job preempts low jobs: PREEMPTED with --no-requeue, requeued otherwise', async () => {
    const once = await submit(`-p low --no-requeue -N2 -w n1,n2 --exclusive --wrap 'sleep 1000'`);
    const again = await submit(`-p low -N1 -w n3 --exclusive --wrap 'sleep 1000'`);
    await waitState(once, 'RUNNING');
    await waitState(again, 'RUNNING');
    const high = await submit(`-p high -N3 --exclusive --wrap 'sleep 1'`);
    expect(await waitState(once, 'PREEMPTED')).toBe(`${once}|PREEMPTED|None|n[1-2]`);
    expect((await jobInfo(once)).get('ExitCode')).toBe('0:15');
    await waitLine(again, 'to be requeued', (l) => l === `${again}|PENDING|BeginTime|`, 10_000);
    expect((await jobInfo(again)).get('Restarts')).toBe('1');
    expect(await waitState(high, 'COMPLETED')).toBe(`${high}|COMPLETED|None|n[1-3]`);
    finished.set(once, 'PREEMPTED').set(high, 'COMPLETED');
  });

  it('--gres=gpu:T4:1 gets one of the fake GPUs; sinfo shows them; impossible gres is refused', async () => {
    expect(await ok(`sinfo -h -o '%G'`)).toBe('gpu:T4:2');
    const id = await submit(`--gres=gpu:T4:1 -o gpu-%j.txt --wrap 'echo CUDA=$CUDA_VISIBLE_DEVICES GPUS=$SLURM_JOB_GPUS'`);
    await waitState(id, 'COMPLETED');
    expect(readJobFile(`gpu-${id}.txt`)).toBe('CUDA=0 GPUS=0\n');
    for (const gres of ['gpu:T4:3', 'gpu:A100:1']) {
      const r = await slurm.sh(`sbatch --gres=${gres} --wrap true`);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('sbatch: error: Batch job submission failed: Requested node configuration is not available\n');
    }
    // The refused submissions still left job records behind.
    const refused = (await ok(`squeue -h -t all -o '%i|%T|%r|%N'`)).split('\n').filter((l) => Number(l.split('|')[0]) > Number(id));
    expect(refused.map((l) => l.replace(/^\d+/, 'ID'))).toEqual(['ID|FAILED|BadConstraints|', 'ID|FAILED|BadConstraints|']);
  });

  it("an unknown partition or account fails sbatch and srun with Slurm's own message", async () => {
    expect(await slurm.sh(`sbatch -p nope --wrap true`)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified\n',
    });
    expect(await slurm.sh(`srun -p nope true`)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'srun: error: invalid partition specified: nope\nsrun: error: Unable to allocate resources: Invalid partition name specified\n',
    });
    expect(await slurm.sh(`sbatch -A nope --wrap true`)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified\n',
    });
    expect(await slurm.sh(`srun -A nope true`)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'srun: error: Unable to allocate resources: Invalid account or account/partition combination specified\n',
    });
    await waitState(await submit(`-A research --wrap true`), 'COMPLETED');
    // More nodes than the partition has is accepted, and waits forever.
    const tooBig = await submit(`-N5 --wrap true`);
    await waitLine(tooBig, 'to wait for PartitionNodeLimit', (l) => l === `${tooBig}|PENDING|PartitionNodeLimit|`, 5000);
  });

  it('squeue shapes: PENDING (Resources, Priority), RUNNING, COMPLETING; -t all keeps finished jobs', async () => {
    // Ignores TERM, so it stays COMPLETING for KillWait (5 s) after scancel.
    const full = await submit(`-N3 --exclusive --wrap 'trap "" TERM; sleep 1000'`);
    await waitState(full, 'RUNNING');
    const first = await submit(`-N3 --exclusive --wrap true`);
    const second = await submit(`-N3 --exclusive --wrap true`);
    await waitLine(first, 'to wait for Resources', (l) => l === `${first}|PENDING|Resources|`);
    expect(await line(full)).toBe(`${full}|RUNNING|None|n[1-3]`);
    expect(await line(second)).toMatch(new RegExp(`^${second}\\|PENDING\\|(Priority|Resources)\\|$`));
    expect(await ok(`squeue --me -h -o '%i|%T|%r|%N'`)).toBe(await ok(`squeue -h -o '%i|%T|%r|%N'`));
    await ok(`scancel ${full}`);
    expect(await line(full)).toMatch(new RegExp(`^${full}\\|COMPLETING\\|None\\|n`));
    const t0 = Date.now();
    expect(await waitState(full, 'CANCELLED', 15_000)).toBe(`${full}|CANCELLED|None|n[1-3]`);
    expect(Date.now() - t0).toBeGreaterThan(3000); // KillWait
    await waitState(second, 'COMPLETED');
    finished.set(full, 'CANCELLED');
    const all = (await ok(`squeue -h -t all -o '%i|%T'`)).split('\n');
    for (const [id, state] of finished) expect(all).toContain(`${id}|${state}`);
  });
});

describe('steps inside an allocation made with sbatch --nodes=2', () => {
  let alloc: string;

  beforeAll(async () => {
    alloc = await submit(`--nodes=2 -w n1,n2 --wrap 'sleep 1000'`);
    await waitState(alloc, 'RUNNING');
  });

  afterAll(cleanUp);

  const steps = () => ok(`squeue -h -s -j ${alloc} -o '%i|%N'`);
  const stepGone = (step: string) => waitFor(`step ${step} to leave squeue`, async () => !(await steps()).includes(`${step}|`) || undefined, 10_000);

  it('srun --overlap --jobid --nodelist=n2 runs a step there; squeue -s lists steps with their own fields', async () => {
    expect(await ok(`srun --overlap --jobid=${alloc} --nodelist=n2 -N1 -n1 bash -c 'echo $SLURM_STEP_ID $SLURMD_NODENAME'`)).toBe('0 n2');
    expect(await steps()).toBe(`${alloc}.batch|n1`);
    expect((await slurm.sh(`squeue -h -s -j ${alloc} -o '%i|%T'`)).stderr).toBe('squeue: error: Invalid job step format specification: T\n');
  });

  it('scancel --signal=TERM <job>.<step> signals the whole step (exit 225 all the same); scancel <job>.<step> ends it', async () => {
    writeScript('traps.sh', [
      'log=$PWD/signals.log',
      'trap "echo parent TERM >> $log" TERM',
      'bash -c "trap \\"echo child TERM >> $log\\" TERM; while :; do sleep 0.1; done" &',
      'echo $SLURM_STEP_ID > step.id',
      'while :; do sleep 0.1; done',
    ]);
    const client = srun(['--overlap', `--jobid=${alloc}`, '--nodelist=n2', '-N1', '-n1', './traps.sh']);
    const step = `${alloc}.${await numberIn('step.id')}`;
    expect(await slurm.sh(`scancel --signal=TERM ${step}`)).toEqual({ code: 225, stdout: '', stderr: `scancel: error: Kill job error on job step id ${alloc}: Invalid job id specified\n` });
    const logged = () => readJobFile('signals.log').split('\n').filter(Boolean).sort();
    await waitFor('both processes to log TERM', () => logged().length === 2 || undefined, 5000);
    expect(logged()).toEqual(['child TERM', 'parent TERM']);
    expect(await steps()).toContain(`${step}|n2`);
    expect(await slurm.sh(`scancel --signal=TERM ${alloc}.99`)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await slurm.sh(`scancel ${step}`)).toEqual({ code: 0, stdout: '', stderr: '' });
    const end = await client.done;
    expect(end.code).toBe(137);
    expect(end.stderr).toContain('srun: error: n2: task 0: Killed');
    await stepGone(step);
  });

  it('a SIGKILLed srun client (own session) takes its step down with it', async () => {
    const client = srun(['--overlap', `--jobid=${alloc}`, '--nodelist=n2', '-N1', '-n1', 'bash', '-c', 'echo $SLURM_STEP_ID > killed.id; echo $$ > killed.pid; exec sleep 1000']);
    const task = await numberIn('killed.pid');
    const step = `${alloc}.${await numberIn('killed.id')}`;
    process.kill(client.pid, 'SIGKILL');
    await waitFor('the task to die', () => !alive(task) || undefined, 5000);
    await stepGone(step);
    const log = fs.readFileSync(path.join(slurm.base, 'log', 'slurmd-n2.log'), 'utf8');
    expect(log).toContain(`[${step}] error: *** STEP ${step} ON n2 CANCELLED AT `);
    await client.done;
  });

  it('scancel of the allocation ends an attached srun --overlap client with exit code 143', async () => {
    const client = srun(['--overlap', `--jobid=${alloc}`, '--nodelist=n2', '-N1', '-n1', 'bash', '-c', 'echo $$ > attached.pid; exec sleep 1000']);
    const task = await numberIn('attached.pid');
    await ok(`scancel ${alloc}`);
    const end = await client.done;
    expect(end.code).toBe(143);
    expect(end.stderr).toContain('srun: error: n2: task 0: Terminated');
    expect(alive(task)).toBe(false);
    expect(await waitState(alloc, 'CANCELLED')).toBe(`${alloc}|CANCELLED|None|n[1-2]`);
  });
});

describe('stop()', () => {
  it('cancels every job and leaves no process behind, not even one that left its job', async () => {
    // Double fork + setsid: proctrack/linuxproc loses track of it, it outlives its job.
    writeScript('escape.sh', [`(setsid bash -c 'echo $$ > escaped.pid; trap "" TERM HUP; exec sleep 1000' </dev/null >/dev/null 2>&1 &)`, 'exec sleep 1000']);
    await submit('--export=NONE ./escape.sh');
    const client = srun(['-N1', 'bash', '-c', 'echo $$ > interactive.pid; exec sleep 1000']);
    const pids = [await numberIn('escaped.pid'), await numberIn('interactive.pid'), client.pid];
    await slurm.stop();
    expect(pids.filter(alive)).toEqual([]);
    const left = procIds()
      .map(readProc)
      .filter((p) => p && !isZombie(p) && p.pid !== process.pid && (markUnder(p, slurm.base) || p.env.get('SLURM_CLUSTER_NAME') === slurm.name));
    expect(left).toEqual([]);
    await slurm.stop(); // idempotent
  });
});

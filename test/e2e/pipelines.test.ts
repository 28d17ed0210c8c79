// Pipelines (multi-document YAMLs run as one managed job) and job groups (`execution: parallel`)
// against a real Temporal dev server and worker on the local provider with three regions: a
// preemption in the middle step, a failing step resumed, cancel in the middle, the worker
// SIGKILLed across a step boundary; a group whose members find each other by hostname, whose
// auxiliaries are cancelled after the primary ends, and whose preempted member comes back.
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ManagedJobView } from '../../workflows/managed-job-types.js';
import type { PipelineView, StepView } from '../../workflows/pipeline-types.js';
import { clusterDirs, THREE_REGIONS, writeConfig } from '../support/jobs.js';
import { withClient } from '../support/client.js';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';

let p: PetrelEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
  writeConfig(p, THREE_REGIONS);
  await p.ok(['server', 'start']);
});

beforeEach(() => writeConfig(p, THREE_REGIONS));

afterAll(async () => {
  await p?.destroy();
});

type Described = Omit<PipelineView, 'steps'> & { steps: Array<StepView & { job: ManagedJobView | null }> };

const describePipeline = (id: number) => p.json<Described>(['jobs', 'describe', String(id)]);

function waitForPipeline(id: number, ok: (v: Described) => boolean, what: string, timeoutMs = 90_000): Promise<Described> {
  return waitFor(
    `pipeline ${id}: ${what}`,
    async () => {
      const v = await describePipeline(id);
      return ok(v) ? v : undefined;
    },
    timeoutMs,
    200,
  );
}

const stepRunning = (v: Described, i: number) => v.steps[i]!.status === 'RUNNING' && !!v.steps[i]!.job?.attempts.at(-1)?.runKey;

function lines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
}

function writeYaml(dir: string, name: string, docs: Array<Record<string, unknown>>): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
  return file;
}

/** A step that records each start in dir/<name>.runs, then waits for dir/<name>.go if gated. */
function step(dir: string, name: string, opts: { gated?: boolean; run?: string } = {}): Record<string, unknown> {
  const wait = opts.gated ? `while [ ! -f ${dir}/${name}.go ]; do sleep 0.2; done; ` : '';
  return {
    name,
    run: `echo "$PETREL_TASK_ID $SKYPILOT_TASK_IDS" >> ${dir}/${name}.runs; ${wait}${opts.run ?? `echo ${name} done`}`,
  };
}

async function submit(file: string, extra: string[] = []): Promise<number> {
  const r = await p.ok(['jobs', 'launch', '-d', '-y', ...extra, file]);
  return Number(r.stdout.trim());
}

describe('pipelines', () => {
  it('a 3-step pipeline whose middle step is preempted recovers it; step 1 ran once; queue, logs and task ids per step', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'pipe-'));
    const file = writeYaml(dir, 'p.yaml', [{ name: 'pipe' }, step(dir, 'prep'), step(dir, 'train', { gated: true }), step(dir, 'eval')]);
    const id = await submit(file);
    await waitForPipeline(id, (v) => stepRunning(v, 1), 'train running');
    expect(lines(path.join(dir, 'prep.runs'))).toHaveLength(1);
    await p.ok(['debug', 'preempt', '--job', String(id)]);
    const recovered = await waitForPipeline(id, (v) => stepRunning(v, 1) && v.steps[1]!.job!.attempts.length === 2, 'train running again');
    expect(recovered.status).toBe('RUNNING');
    expect(recovered.steps[2]!.status).toBe('PENDING');
    // The Temporal UI: the pipeline and its steps as parent and child, each with a summary, and
    // the pipeline's current details saying which step runs where.
    await withClient(p, async (client) => {
      const parent = await client.workflow.getHandle(`job/${id}`).describe();
      expect(await parent.staticSummary()).toBe('pipeline pipe: prep → train → eval');
      const child = await client.workflow.getHandle(`job/${id}/1`).describe();
      expect(await child.staticSummary()).toBe('step 2/3 train · *, 1x node');
      expect(child.parentExecution?.workflowId).toBe(`job/${id}`);
      const meta = await client.workflow.getHandle(`job/${id}`).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      expect(meta.currentDetails).toMatch(/step 2\/3 train: RUNNING on local\/region-\w, 1 recovery/);
      expect(meta.currentDetails).toContain('step 1/3 prep: SUCCEEDED');
    });
    fs.writeFileSync(path.join(dir, 'train.go'), '');
    const v = await waitForPipeline(id, (x) => x.status === 'SUCCEEDED', 'success');
    expect(v.steps.map((s) => s.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    expect(v.steps[1]!.recoveries).toBe(1);
    expect(v.steps[1]!.job!.attempts.map((a) => a.outcome)).toEqual(['preempted', 'succeeded']);
    // Step 1 ran once; step 2 twice (the preemption), with the same task id both times.
    expect(lines(path.join(dir, 'prep.runs'))).toHaveLength(1);
    const trainRuns = lines(path.join(dir, 'train.runs'));
    expect(trainRuns).toHaveLength(2);
    expect(new Set(trainRuns).size).toBe(1);
    // SkyPilot's form: <prefix>-<ts>_<pipeline>_<task>_<job-id>-<task-index>, and the list of them all.
    const [taskId, taskIds] = trainRuns[0]!.split(' ');
    expect(taskId).toMatch(new RegExp(`^petrel-managed-\\d{8}-\\d{6}_pipe_train_${id}-1$`));
    expect(taskIds!.split(',')).toEqual(v.steps.map((s) => s.job!.taskId));
    expect(v.steps[1]!.job!.taskId).toBe(taskId);

    const queue = await p.ok(['jobs', 'queue']);
    const rows = queue.stdout.split('\n');
    const head = rows.findIndex((l) => new RegExp(`^${id}\\s+-\\s+pipe\\s`).test(l));
    expect(head).toBeGreaterThanOrEqual(0);
    expect(rows[head + 1]).toMatch(/^\s+0\s+prep\s.*SUCCEEDED/);
    expect(rows[head + 2]).toMatch(/^\s+1\s+train\s.*\s1\s+local\/region-\w\s+SUCCEEDED/);
    expect(rows[head + 3]).toMatch(/^\s+2\s+eval\s.*SUCCEEDED/);
    const json = await p.json<Array<{ id: number; tasks?: Array<{ task: number; name: string; status: string; recoveries: number }> }>>(['jobs', 'queue', '--json']);
    expect(json.find((r) => r.id === id)!.tasks!.map((t) => [t.task, t.name, t.status, t.recoveries])).toEqual([
      [0, 'prep', 'SUCCEEDED', 0],
      [1, 'train', 'SUCCEEDED', 1],
      [2, 'eval', 'SUCCEEDED', 0],
    ]);

    const all = await p.ok(['jobs', 'logs', String(id)]);
    expect(all.stdout.indexOf('prep done')).toBeLessThan(all.stdout.indexOf('train done'));
    expect(all.stdout.indexOf('train done')).toBeLessThan(all.stdout.indexOf('eval done'));
    const one = await p.ok(['jobs', 'logs', String(id), '--task', 'eval']);
    expect(one.stdout).toContain('eval done');
    expect(one.stdout).not.toContain('prep done');
    const byIndex = await p.ok(['jobs', 'logs', String(id), '--task', '0']);
    expect(byIndex.stdout).toContain('prep done');
    const bad = await p.run(['jobs', 'logs', String(id), '--task', 'nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--task nope: job');
    expect(bad.stderr).toContain('0 (prep), 1 (train), 2 (eval)');
    const step2 = await p.json<ManagedJobView>(['jobs', 'describe', String(id), '--task', 'train']);
    expect(step2.attempts).toHaveLength(2);
    expect(clusterDirs(p)).toEqual([]);
  });

  it('a failing step fails the pipeline and skips the rest; resume reruns only that step and the later ones', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'resume-'));
    const file = writeYaml(dir, 'p.yaml', [
      { name: 'flaky' },
      step(dir, 'a'),
      step(dir, 'b', { run: `test -f ${dir}/fixed || { echo b broke >&2; exit 3; }` }),
      step(dir, 'c'),
    ]);
    const launch = await p.run(['jobs', 'launch', '-y', file]);
    expect(launch.code).toBe(3);
    const id = Number(/Pipeline (\d+) submitted/.exec(launch.stderr)![1]);
    expect(launch.stderr).toContain(`Managed job ${id} FAILED: step 2/3 b: FAILED`);
    const failed = await describePipeline(id);
    expect(failed.steps.map((s) => s.status)).toEqual(['SUCCEEDED', 'FAILED', 'SKIPPED']);
    expect(lines(path.join(dir, 'c.runs'))).toEqual([]);

    // A single job cannot be resumed, nor a pipeline that has not ended.
    const single = Number((await p.ok(['jobs', 'launch', '-d', '-y', 'true'])).stdout.trim());
    const notPipeline = await p.run(['jobs', 'resume', String(single), '-y']);
    expect(notPipeline.code).toBe(1);
    expect(notPipeline.stderr).toContain('is a single task, not a pipeline');

    fs.writeFileSync(path.join(dir, 'fixed'), '');
    const resumed = await p.run(['jobs', 'resume', String(id), '-y']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`resuming from step 2/3 (b); a succeeded and will not run again`);
    expect(resumed.stderr).toContain(`Managed job ${id} SUCCEEDED`);
    expect(lines(path.join(dir, 'a.runs'))).toHaveLength(1);
    expect(lines(path.join(dir, 'b.runs'))).toHaveLength(2);
    expect(lines(path.join(dir, 'c.runs'))).toHaveLength(1);
    // Task ids do not change with a resume.
    expect(new Set(lines(path.join(dir, 'b.runs'))).size).toBe(1);
    const v = await describePipeline(id);
    expect(v.generation).toBe(1);
    expect(v.steps.map((s) => [s.status, s.generation])).toEqual([
      ['SUCCEEDED', 0],
      ['SUCCEEDED', 1],
      ['SUCCEEDED', 1],
    ]);
    const again = await p.run(['jobs', 'launch', '--resume', String(id), '-y']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('SUCCEEDED; there is nothing to resume');
    // The next job gets a fresh id, not the resumed pipeline's.
    const next = Number((await p.ok(['jobs', 'launch', '-d', '-y', 'true'])).stdout.trim());
    expect(next).toBeGreaterThan(single);
    expect(clusterDirs(p).filter((d) => d.startsWith(`job-${id}-`))).toEqual([]);
  });

  it('cancel during step 2 tears it down, step 3 never starts, and nothing is left running', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'cancel-'));
    const file = writeYaml(dir, 'p.yaml', [{ name: 'stopme' }, step(dir, 'one'), step(dir, 'two', { gated: true }), step(dir, 'three')]);
    const id = await submit(file);
    const before = await waitForPipeline(id, (v) => stepRunning(v, 1), 'step two running');
    const cluster = before.steps[1]!.job!.attempts.at(-1)!.clusterName;
    expect(clusterDirs(p)).toContain(cluster);
    const r = await p.ok(['jobs', 'cancel', '-y', String(id)]);
    expect(r.stdout).toContain(`Job ${id}: CANCELLED`);
    const v = await describePipeline(id);
    expect(v.status).toBe('CANCELLED');
    expect(v.steps.map((s) => s.status)).toEqual(['SUCCEEDED', 'CANCELLED', 'SKIPPED']);
    expect(v.steps[1]!.job!.attempts.at(-1)!.outcome).toBe('cancelled');
    expect(clusterDirs(p).filter((d) => d.startsWith(`job-${id}-`))).toEqual([]);
    fs.writeFileSync(path.join(dir, 'two.go'), '');
    await new Promise((res) => setTimeout(res, 1500));
    expect(lines(path.join(dir, 'three.runs'))).toEqual([]);
    const again = await p.ok(['jobs', 'cancel', '-y', String(id)]);
    expect(again.stdout).toContain(`Job ${id}: already CANCELLED`);
  });

  it('the worker SIGKILLed while step 1 runs and step 1 ending while no worker is up: step 2 still runs, each step once', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'kill-'));
    const file = writeYaml(dir, 'p.yaml', [{ name: 'hardy' }, step(dir, 'first', { gated: true }), step(dir, 'second')]);
    const id = await submit(file);
    await waitForPipeline(id, (v) => stepRunning(v, 0), 'step one running');
    const worker = p.pidOf('worker')!;
    process.kill(worker, 'SIGKILL');
    await waitFor('the worker to die', () => !alive(worker) || undefined);
    fs.writeFileSync(path.join(dir, 'first.go'), '');
    await new Promise((res) => setTimeout(res, 1000));
    await p.ok(['server', 'start']);
    const v = await waitForPipeline(id, (x) => x.status === 'SUCCEEDED', 'success');
    expect(v.steps.map((s) => s.job!.attempts.length)).toEqual([1, 1]);
    expect(lines(path.join(dir, 'first.runs'))).toHaveLength(1);
    expect(lines(path.join(dir, 'second.runs'))).toHaveLength(1);
    await waitFor('no cluster left', () => (clusterDirs(p).filter((d) => d.startsWith(`job-${id}-`)).length === 0 ? true : undefined), 30_000);
  });
});

describe('job groups', () => {
  it('three tasks: members reach each other by hostname; auxiliaries are cancelled after their delay; a preempted member comes back under its name', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'group-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const fetch = (what: string) =>
      `python3 -c 'import urllib.request,sys; print(urllib.request.urlopen("http://server-0.trio:${port}/", timeout=2).read().decode())'`.replace('print(', `print("${what}", `);
    const file = writeYaml(dir, 'g.yaml', [
      { name: 'trio', execution: 'parallel', primary_tasks: ['client'], termination_delay: { default: '2s', logger: '30s' } },
      {
        name: 'server',
        run: `mkdir -p www && echo "hi from $SKYPILOT_JOBGROUP_NAME attempt" > www/index.html && echo serving >> ${dir}/server.runs && exec python3 -m http.server ${port} --bind 127.0.0.1 --directory www`,
      },
      {
        name: 'client',
        run: [
          `getent hosts server-0.trio client-0.trio logger-0.trio > ${dir}/resolved`,
          `until ${fetch('first:')} >> ${dir}/client.out 2>/dev/null; do sleep 0.2; done`,
          `while [ ! -f ${dir}/again ]; do sleep 0.2; done`,
          `until ${fetch('second:')} >> ${dir}/client.out 2>/dev/null; do sleep 0.2; done`,
        ].join('\n'),
      },
      { name: 'logger', run: `echo "logging for $PETREL_JOBGROUP_NAME" ; while true; do sleep 1; done` },
    ]);
    const id = await submit(file);
    await waitFor('the client to fetch from the server by hostname', () => (lines(path.join(dir, 'client.out')).length === 1 ? true : undefined), 60_000);
    expect(lines(path.join(dir, 'client.out'))).toEqual(['first: hi from trio attempt']);
    const resolved = lines(path.join(dir, 'resolved'));
    expect(resolved).toHaveLength(3);
    expect(resolved.map((l) => l.split(/\s+/)[1])).toEqual(['server-0.trio', 'client-0.trio', 'logger-0.trio']);
    const running = await describePipeline(id);
    expect(running.kind).toBe('jobgroup');
    expect(running.steps.map((s) => s.role)).toEqual(['auxiliary', 'primary', 'auxiliary']);
    expect(running.hosts!.version).toBe(1);

    // The server is preempted: it recovers on its own, the others keep running, and its name
    // points at its new nodes (the table's version moves on and names its new attempt).
    await p.ok(['debug', 'preempt', '--job', `${id}/0`]);
    const moved = await waitForPipeline(id, (v) => v.hosts!.members.find((m) => m.task === 'server')!.attempt === 2 && stepRunning(v, 0), 'server back', 60_000);
    expect(moved.hosts!.version).toBe(2);
    expect(moved.steps[1]!.job!.attempts).toHaveLength(1);
    expect(moved.steps[2]!.job!.attempts).toHaveLength(1);
    const clientNode = moved.steps[1]!.job!.attempts[0]!.groupHosts![0]!.path;
    await waitFor('the client node to get the new table', () => (fs.existsSync(clientNode) ? true : undefined));
    fs.writeFileSync(path.join(dir, 'again'), '');
    const done = await waitForPipeline(id, (v) => v.steps[1]!.status === 'SUCCEEDED', 'client done');
    expect(lines(path.join(dir, 'client.out'))).toEqual(['first: hi from trio attempt', 'second: hi from trio attempt']);
    expect(lines(path.join(dir, 'server.runs'))).toHaveLength(2);
    // The server (2 s delay) goes before the logger (30 s); the group succeeds with its primary.
    const serverGone = await waitForPipeline(id, (v) => v.steps[0]!.status === 'CANCELLED', 'server cancelled', 30_000);
    expect(serverGone.steps[2]!.status).toBe('RUNNING');
    expect(serverGone.steps[0]!.message).toContain('termination_delay');
    const endedAt = Date.parse(done.steps[1]!.endedAt!);
    expect(Date.parse(serverGone.steps[0]!.endedAt!) - endedAt).toBeGreaterThanOrEqual(2000);
    await p.ok(['jobs', 'cancel', '-y', String(id)]).catch(() => undefined);
    const final = await describePipeline(id);
    expect(final.steps[2]!.status).toBe('CANCELLED');
    expect(clusterDirs(p).filter((d) => d.startsWith(`job-${id}-`))).toEqual([]);
  });

  it('a failing primary fails the group and cancels the others at once; without primary_tasks the group waits for every task', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'gfail-'));
    const failing = writeYaml(dir, 'f.yaml', [
      { name: 'doomed', execution: 'parallel', primary_tasks: ['boss'], termination_delay: '1h' },
      { name: 'boss', run: 'sleep 1; exit 7' },
      { name: 'helper', run: 'while true; do sleep 1; done' },
    ]);
    const r = await p.run(['jobs', 'launch', '-y', failing]);
    expect(r.code).toBe(7);
    const id = Number(/Job group (\d+) submitted/.exec(r.stderr)![1]);
    const v = await describePipeline(id);
    expect(v.status).toBe('FAILED');
    expect(v.steps.map((s) => s.status)).toEqual(['FAILED', 'CANCELLED']);
    expect(v.steps[1]!.message).toContain('primary task boss ended FAILED');

    const all = writeYaml(dir, 'a.yaml', [
      { name: 'pair', execution: 'parallel' },
      { name: 'quick', run: 'echo quick' },
      { name: 'slow', run: `while [ ! -f ${dir}/slow.go ]; do sleep 0.2; done; echo slow` },
    ]);
    const pair = await submit(all);
    await waitForPipeline(pair, (x) => x.steps[0]!.status === 'SUCCEEDED' && stepRunning(x, 1), 'quick done, slow running');
    expect((await describePipeline(pair)).status).toBe('RUNNING');
    fs.writeFileSync(path.join(dir, 'slow.go'), '');
    const done = await waitForPipeline(pair, (x) => x.status === 'SUCCEEDED', 'both done');
    expect(done.steps.map((s) => s.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const noResume = await p.run(['jobs', 'resume', String(id), '-y']);
    expect(noResume.code).toBe(1);
    expect(noResume.stderr).toContain('is a job group');
  });

  it('validate and launch refuse bad headers with file, line and field, and submit nothing', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'bad-'));
    const cases: Array<[string, string, RegExp]> = [
      ['dup.yaml', 'name: g\nexecution: parallel\n---\nname: a\nrun: "true"\n---\nname: a\nrun: "true"\n', /dup\.yaml:7:7: name: .*a.*line 4/],
      ['primary.yaml', 'name: g\nexecution: parallel\nprimary_tasks: [a, bb]\n---\nname: a\nrun: "true"\n---\nname: b\nrun: "true"\n', /primary\.yaml:3:\d+: primary_tasks(\.|\[)1\]?.*bb/],
      ['delay.yaml', 'name: g\nexecution: parallel\ntermination_delay: soon\n---\nname: a\nrun: "true"\n', /delay\.yaml:3:\d+: termination_delay: /],
    ];
    const before = await p.json<unknown[]>(['jobs', 'queue', '--json']);
    for (const [name, text, expected] of cases) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      const v = await p.run(['validate', file]);
      expect(v.code, name).toBe(1);
      expect(v.stderr, name).toMatch(expected);
      expect(v.stderr).not.toMatch(/at .*\.js:\d+/);
      const l = await p.run(['jobs', 'launch', '-y', '-d', file]);
      expect(l.code, name).toBe(1);
      expect(l.stderr, name).toMatch(expected);
    }
    expect(await p.json<unknown[]>(['jobs', 'queue', '--json'])).toHaveLength(before.length);
  });
});

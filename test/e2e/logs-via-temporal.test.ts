// The CLI never reads the worker's filesystem: `logs`, `jobs logs` and the streaming of
// `launch`/`jobs launch` get their bytes through Temporal (log sessions on the worker's own task
// queue), and `check` and `debug` ask a worker. Proven from a CLI in another PETREL_HOME (and
// as another unix user) that shares only the Temporal address and the codec key with the
// worker's home: full output of finished jobs, no line lost at the end of a streamed job, 50 MiB
// streamed with the worker's memory bounded, a wiped worker home said to be gone, and a
// stopped worker named.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { homeKeyFile, loadKeyring } from '../../codec/keys.js';
import { running, submitJob, waitForJob } from '../support/jobs.js';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';
import { createUnixUser, makeReachable, type UnixUser } from '../support/unix-user.js';

const repo = path.resolve(import.meta.dirname, '..', '..');
const bin = path.join(repo, 'bin', 'petrel.js');

/** the worker's home: its embedded server and worker run everything */
let p: PetrelEnv;
/** a CLI in another PETREL_HOME, pointed at p's server with p's codec key: p's files are not its own */
let other: PetrelEnv;
let elsewhere: NodeJS.ProcessEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
  other = await PetrelEnv.create();
  await p.ok(['server', 'start']);
  loadKeyring(p.home); // the home's key (created by whoever comes first: the worker may still be starting)
  elsewhere = { TEMPORAL_ADDRESS: p.address, PETREL_CODEC_KEY: fs.readFileSync(homeKeyFile(p.home), 'utf8').trim() };
});

afterAll(async () => {
  await other?.destroy();
  await p?.destroy();
});

const numbered = (n: number, prefix = 'line') => Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}`).join('\n') + '\n';
const printNumbered = (n: number, prefix = 'line') => `for i in $(seq 1 ${n}); do echo "${prefix} $i"; done`;

/** The CLI in `other` with its stdout handed to `onData` as it comes (never kept whole). */
function streamCli(args: string[], onData: (chunk: Buffer) => void): { child: ChildProcess; done: Promise<{ code: number; stderr: string }> } {
  const child = spawn(process.execPath, [bin, ...args], { cwd: repo, env: { ...other.env, ...elsewhere }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stdout!.on('data', onData);
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stderr })));
  return { child, done };
}

function rssMiB(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kb / 1024;
}

describe('logs of a finished job from another PETREL_HOME', () => {
  it('`logs` of a 2-node cluster job and `jobs logs` of a managed job print their full output', async () => {
    await p.ok(['launch', '-c', 'fin', '-y', '--num-nodes', '2', printNumbered(300, 'rank $PETREL_NODE_RANK line')]);
    const r = await other.run(['logs', 'fin', '1'], { env: elsewhere });
    expect(r.code, r.stderr).toBe(0);
    for (const rank of [0, 1]) {
      const mine = r.stdout.split('\n').filter((l) => l.startsWith(`(node ${rank}) `));
      expect(mine.join('\n') + '\n').toBe(numbered(300, `(node ${rank}) rank ${rank} line`));
    }
    expect(r.stderr).toBe('');
    // nothing of p's was read or created in the other home
    expect(fs.existsSync(path.join(other.home, 'logs'))).toBe(false);

    const id = await submitJob(p, [printNumbered(500)]);
    await waitForJob(p, id, (v) => v.status === 'SUCCEEDED', 'success');
    const j = await other.run(['jobs', 'logs', String(id)], { env: elsewhere });
    expect(j.code, j.stderr).toBe(0);
    expect(j.stdout).toBe(numbered(500));
    await p.ok(['down', 'fin', '-y']);
  });

  it('`jobs logs` works as another unix user with a home of its own', async () => {
    const id = await submitJob(p, [printNumbered(50, 'from-another-user')]);
    await waitForJob(p, id, (v) => v.status === 'SUCCEEDED', 'success');
    let user: UnixUser | undefined;
    // The other user runs this very checkout, wherever it was cloned.
    const restore = makeReachable([bin, inject('temporalBin')]);
    try {
      user = await createUnixUser();
      const env = { PATH: process.env.PATH, PETREL_HOME: path.join(user.home, '.petrel'), PETREL_TEMPORAL_BIN: inject('temporalBin'), TMPDIR: user.home, ...elsewhere };
      const r = await user.run(process.execPath, [bin, 'jobs', 'logs', String(id)], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(numbered(50, 'from-another-user'));
    } finally {
      await user?.remove();
      restore();
    }
  });
});

describe('streaming from another PETREL_HOME loses no line at the end', () => {
  it('`jobs launch` of a job that prints 2,000 numbered lines quickly and exits shows all of them, in order', async () => {
    const r = await other.run(['jobs', 'launch', '-y', printNumbered(2000)], { env: elsewhere });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(numbered(2000));
  });

  it('`launch` does too, and so does `logs --follow` started before the job ends', async () => {
    const r = await other.run(['launch', '-c', 'stream', '-y', printNumbered(2000)], { env: elsewhere });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(numbered(2000));
    await other.ok(['exec', 'stream', '-d', `sleep 1; ${printNumbered(2000, 'late')}`], { env: elsewhere });
    const f = await other.run(['logs', 'stream', '2', '--follow'], { env: elsewhere });
    expect(f.code, f.stderr).toBe(0);
    expect(f.stdout).toBe(numbered(2000, 'late'));
    await p.ok(['down', 'stream', '-y']);
  });
});

describe('a 50 MiB log', () => {
  it('streams completely to `logs --follow` in another home, and the worker stays within bounds', async () => {
    const lines = 409_600; // 128-byte lines: 50 MiB
    const line = (i: number) => `${String(i).padStart(127, '0')}\n`;
    const expected = crypto.createHash('sha256');
    for (let i = 1; i <= lines; i += 4096) {
      let batch = '';
      for (let j = i; j < Math.min(i + 4096, lines + 1); j++) batch += line(j);
      expected.update(batch);
    }
    await p.ok(['launch', '-c', 'big', '-y', '-d', `seq 1 ${lines} | awk '{printf "%0127d\\n", $1}'`]);
    const worker = p.pidOf('worker')!;
    let maxRss = rssMiB(worker);
    const sampler = setInterval(() => (maxRss = Math.max(maxRss, rssMiB(worker))), 100);
    const got = crypto.createHash('sha256');
    let bytes = 0;
    const started = Date.now();
    try {
      const { done } = streamCli(['logs', 'big', '1', '--follow'], (chunk) => {
        bytes += chunk.length;
        got.update(chunk);
      });
      const r = await done;
      expect(r.code, r.stderr).toBe(0);
    } finally {
      clearInterval(sampler);
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(`50 MiB through Temporal in ${seconds.toFixed(1)} s (${(50 / seconds).toFixed(1)} MiB/s); worker RSS at most ${maxRss.toFixed(0)} MiB`);
    expect(bytes).toBe(lines * 128);
    expect(got.digest('hex')).toBe(expected.digest('hex'));
    expect(maxRss).toBeLessThan(600);
    await p.ok(['down', 'big', '-y']);
  }, 300_000);
});

describe('a log that is gone says so', () => {
  it('with the worker home wiped (archive and nodes), `jobs logs` and `logs` say the output is gone, exit 1', async () => {
    const id = await submitJob(p, ['echo soon-gone']);
    await waitForJob(p, id, (v) => v.status === 'SUCCEEDED', 'success');
    await p.ok(['launch', '-c', 'wiped', '-y', 'echo soon-gone too']);
    fs.rmSync(path.join(p.home, 'logs', 'clusters'), { recursive: true, force: true });
    fs.rmSync(path.join(p.home, 'local', 'clusters'), { recursive: true, force: true });

    const j = await other.run(['jobs', 'logs', String(id)], { env: elsewhere });
    expect(j.code).toBe(1);
    expect(j.stdout).toBe('');
    expect(j.stderr).toContain(`managed job ${id}: the output of ${id}-1-run on node 0 is gone:`);
    expect(j.stderr).toContain(`PETREL_HOME ${p.home} has no archive of it`);
    expect(j.stderr).not.toMatch(/\n\s+at /);

    const l = await other.run(['logs', 'wiped', '1'], { env: elsewhere });
    expect(l.code).toBe(1);
    expect(l.stderr).toContain("job 1 of cluster 'wiped': the output of 1-run on node 0 is gone:");
    await p.ok(['down', 'wiped', '-y']);
  });
});

describe('check and debug ask the worker', () => {
  it("`petrel check` from another home answers with the worker's config, and names the worker", async () => {
    const r = await other.run(['check'], { env: elsewhere });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/local\s+yes/);
    expect(r.stdout).toContain(`nodes are directories under ${p.home}/local/clusters`);
    expect(r.stdout).not.toContain(other.home);
    expect(r.stderr).toContain(`PETREL_HOME ${p.home}`);
    const bad = await other.run(['check', 'nope'], { env: elsewhere });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("unknown infra 'nope'; Petrel supports: local, ssh");
  });

  it('`debug preempt` and `debug unreachable` from another home act on the nodes of the worker that provisioned them', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'gate-'));
    const id = await submitJob(p, [`while [ ! -f ${dir}/go ]; do sleep 0.2; done; echo recovered`]);
    const v = await waitForJob(p, id, running, 'running');
    const hit = await other.run(['debug', 'preempt', '--job', String(id)], { env: elsewhere });
    expect(hit.code, hit.stderr).toBe(0);
    expect(hit.stdout).toContain(`Preempted node 0 of cluster '${v.attempts[0]!.clusterName}' of managed job ${id}`);
    await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered');

    const blip = await other.run(['debug', 'unreachable', '--job', String(id), '--seconds', '1'], { env: elsewhere });
    expect(blip.code, blip.stderr).toBe(0);
    expect(blip.stdout).toContain('will not answer for 1 s');
    fs.writeFileSync(path.join(dir, 'go'), '');
    const done = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success');
    expect(done.recoveries).toBe(1);
  });
});

describe('a worker that is not running is named', () => {
  it("logs of a cluster whose provisioning worker stopped: the message names that worker's host and home", async () => {
    await p.ok(['launch', '-c', 'orphan', '-y', 'echo hi']);
    // Another worker (in the other home) takes over the shared queue; p's own queue has no one.
    const embedded = p.pidOf('worker')!;
    process.kill(embedded, 'SIGTERM');
    await waitFor('the embedded worker to exit', () => !alive(embedded) || undefined);
    const stand = spawn(process.execPath, [bin, 'worker'], { cwd: repo, env: { ...other.env, ...elsewhere }, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const r = await other.run(['logs', 'orphan', '1'], { env: elsewhere });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("no worker is serving the logs of job 1 of cluster 'orphan'");
      expect(r.stderr).toContain(`PETREL_HOME ${p.home}, is not running`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      stand.kill('SIGTERM');
      await new Promise((r) => stand.once('exit', r));
      await p.ok(['server', 'start']);
    }
    expect((await p.ok(['logs', 'orphan', '1'])).stdout).toBe('hi\n');
    await p.ok(['down', 'orphan', '-y']);
  });
});

// The team stack for real: docker-compose.yml's Postgres, Temporal server 1.32 and standalone
// UI 2.54, run natively by deploy/native/up.sh (test/support/team-stack.ts), with Petrel's codec
// endpoint. Two people in unix accounts and homes of their own run the CLI against it; two
// workers in two other homes serve it; everyone shares only TEMPORAL_ADDRESS and the team's
// codec key. Jobs run on the local provider, in the homes of the workers.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ManagedJobView } from '../../workflows/managed-job-types.js';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';
import { startTeamStack, type TeamStack } from '../support/team-stack.js';
import { createUnixUser, makeReachable, type UnixUser } from '../support/unix-user.js';

const repo = path.resolve(import.meta.dirname, '..', '..');
const petrelBin = path.join(repo, 'bin', 'petrel.js');
const codecKey = crypto.randomBytes(32).toString('base64');

let stack: TeamStack;
let restoreModes: (() => void) | undefined;
const users: UnixUser[] = [];
const workerHomes: PetrelEnv[] = [];
const workers: Array<{ home: PetrelEnv; child: ChildProcess; log: string }> = [];

/** What everyone on the team sets: the frontend and the team's key. */
const team = () => ({ TEMPORAL_ADDRESS: stack.address, TEMPORAL_NAMESPACE: stack.namespace, PETREL_CODEC_KEY: codecKey });

function startWorker(home: PetrelEnv): { home: PetrelEnv; child: ChildProcess; log: string } {
  const log = path.join(home.home, 'worker.log');
  const out = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [petrelBin, 'worker'], { cwd: repo, env: { ...home.env, ...team() }, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  return { home, child, log };
}

beforeAll(async () => {
  stack = await startTeamStack({ temporalCli: inject('temporalBin'), codecKey });
  for (let i = 0; i < 2; i++) {
    const home = await PetrelEnv.create();
    workerHomes.push(home);
    workers.push(startWorker(home));
  }
  for (const w of workers) {
    await waitFor(`the worker in ${w.home.home} to poll`, () => fs.readFileSync(w.log, 'utf8').includes("polling task queue 'petrel'") || undefined, 60_000);
  }
  // The two people run this very checkout and the test's Temporal CLI, wherever they are.
  restoreModes = makeReachable([petrelBin, inject('temporalBin')]);
  for (let i = 0; i < 2; i++) {
    const user = await createUnixUser();
    users.push(user);
    const home = path.join(user.home, '.petrel');
    fs.mkdirSync(home, { mode: 0o700 });
    // Each job they submit carries it: a node silent for longer than this counts as lost.
    fs.writeFileSync(path.join(home, 'config.yaml'), 'jobs:\n  unreachable_grace_seconds: 5\n');
    fs.chownSync(home, user.uid, user.gid);
    fs.chownSync(path.join(home, 'config.yaml'), user.uid, user.gid);
  }
}, 600_000);

afterAll(async () => {
  // Jobs still live would be recovered by a worker while it is being stopped.
  if (users[0] && stack) await petrel(users[0], ['jobs', 'cancel', '-u', '-y'], 120_000).catch(() => undefined);
  for (const w of workers) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill('SIGTERM');
      await new Promise((r) => w.child.once('exit', r));
    }
  }
  for (const home of workerHomes) await home.destroy();
  for (const user of users) await user.remove();
  restoreModes?.();
  await stack?.destroy();
}, 300_000);

/** The CLI as one of the two people: their unix account, their home, the team's settings. */
function petrel(user: UnixUser, args: string[], timeoutMs = 120_000) {
  const env = { PATH: process.env.PATH, PETREL_HOME: path.join(user.home, '.petrel'), PETREL_TEMPORAL_BIN: inject('temporalBin'), TMPDIR: user.home, ...team() };
  return user.run(process.execPath, [petrelBin, ...args], env, timeoutMs);
}

async function ok(user: UnixUser, args: string[]): Promise<string> {
  const r = await petrel(user, args);
  if (r.code !== 0) throw new Error(`petrel ${args.join(' ')} as ${user.name} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

async function submit(user: UnixUser, args: string[]): Promise<number> {
  return Number((await ok(user, ['jobs', 'launch', '-d', '-y', ...args])).trim());
}

async function describeJob(user: UnixUser, id: number): Promise<ManagedJobView> {
  return JSON.parse(await ok(user, ['jobs', 'describe', String(id), '--json'])) as ManagedJobView;
}

function waitForJob(user: UnixUser, id: number, ok: (v: ManagedJobView) => boolean, what: string, timeoutMs = 90_000): Promise<ManagedJobView> {
  return waitFor(`job ${id}: ${what}`, async () => {
    const v = await describeJob(user, id);
    return ok(v) ? v : undefined;
  }, timeoutMs, 500);
}

const succeeded = (v: ManagedJobView) => v.status === 'SUCCEEDED';
const runningNow = (v: ManagedJobView) => v.status === 'RUNNING' && !!v.attempts.at(-1)?.runKey;

interface JobRow {
  id: number;
  name: string | null;
  user: string | null;
  status: string;
}

/** `jobs queue --json` as `user` (with `flags`), once it lists exactly `ids` (visibility is eventually consistent). */
function waitForQueue(user: UnixUser, flags: string[], ids: number[]): Promise<JobRow[]> {
  const want = JSON.stringify([...ids].sort((a, b) => a - b));
  return waitFor(`jobs queue ${flags.join(' ')} as ${user.name} to list ${want}`, async () => {
    const rows = JSON.parse(await ok(user, ['jobs', 'queue', ...flags, '--json'])) as JobRow[];
    return JSON.stringify(rows.map((r) => r.id).sort((a, b) => a - b)) === want ? rows : undefined;
  }, 60_000, 500);
}

/** The worker homes holding a local node of this job's attempt (its cluster directory). */
function homesRunning(id: number, attempt: number): PetrelEnv[] {
  return workerHomes.filter((h) => fs.existsSync(h.clusterDir(`job-${id}-${attempt}`)));
}

/** TCP sockets in LISTEN state on this machine (IPv4 and IPv6), from /proc/net. */
function listeners(): Array<{ address: string; port: number }> {
  const out: Array<{ address: string; port: number }> = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(file, 'utf8').trim().split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A') continue;
      const [hex, port] = local!.split(':');
      const address = hex!.length === 8 ? hex!.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.') : hex!;
      out.push({ address, port: parseInt(port!, 16) });
    }
  }
  return out;
}

/** Whether the job's startPhase activity has completed: its run is with a watcher now. */
function phaseStarted(id: number): boolean {
  const history = JSON.parse(execFileSync(inject('temporalBin'), ['workflow', 'show', '-w', `job/${id}`, '--output', 'json', '--address', stack.address], { encoding: 'utf8' })) as {
    events: Array<{ eventId: string; eventType: string; activityTaskScheduledEventAttributes?: { activityType: { name: string } }; activityTaskCompletedEventAttributes?: { scheduledEventId: string } }>;
  };
  const scheduled = history.events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType.name === 'startPhase').map((e) => e.eventId);
  return history.events.some((e) => e.eventType === 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED' && scheduled.includes(e.activityTaskCompletedEventAttributes!.scheduledEventId));
}

/** A job that finishes once `gate/go` exists: a running job whose end the test decides. */
function gated(gate: string, marker: string): string {
  return `echo ${marker}-started; while [ ! -f ${gate}/go ]; do sleep 0.2; done; echo ${marker}-done`;
}

function openGate(gate: string): void {
  fs.writeFileSync(path.join(gate, 'go'), '');
}

function newGate(): string {
  const gate = fs.mkdtempSync(path.join(path.dirname(stack.state), 'gate-'));
  fs.chmodSync(gate, 0o755);
  return gate;
}

let aliceJobs: number[] = [];
let bobJobs: number[] = [];

describe('the stack itself', () => {
  it('is Temporal 1.32 on Postgres, with the UI and the codec endpoint, all on loopback, and both workers polling', async () => {
    expect(stack.pid('postgres')).toBeDefined();
    expect(stack.pid('temporal')).toBeDefined();
    expect(stack.pid('temporal-ui')).toBeDefined();
    expect(stack.pid('petrel-codec')).toBeDefined();
    const server = fs.readFileSync(`/proc/${stack.pid('temporal')}/cmdline`, 'utf8').split('\0');
    expect(path.basename(server[0]!)).toBe('temporal-server');
    // the persistence really is Postgres (the server's environment, from docker-compose.yml)
    const env = fs.readFileSync(`/proc/${stack.pid('temporal')}/environ`, 'utf8').split('\0');
    expect(env).toContain('DB=postgres12');
    expect(env).toContain(`DB_PORT=${stack.settings.PETREL_NATIVE_POSTGRES!.split(':')[1]}`);
    // every listener of the stack's port block is on 127.0.0.1, none on another address
    const base = Number(stack.settings.PETREL_NATIVE_PORT_BASE);
    const listening = listeners().filter((l) => l.port >= base && l.port < base + 13);
    expect(listening.map((l) => l.port)).toEqual(expect.arrayContaining([base, base + 1, base + 11, base + 12]));
    expect(listening.filter((l) => l.address !== '127.0.0.1')).toEqual([]);
    // matching lists a worker once its first poll has arrived
    const status = await waitFor('both workers among the pollers', async () => {
      const s = JSON.parse(await ok(users[0]!, ['server', 'status', '--json'])) as { mode: string; address: string; workerPollers: number };
      return s.workerPollers >= 2 ? s : undefined;
    }, 60_000, 1000);
    expect(status).toMatchObject({ mode: 'external', address: stack.address, workerPollers: 2 });
    const settings = (await (await fetch(`${stack.uiUrl}/api/v1/settings`)).json()) as { Version: string; Codec: { Endpoint: string } };
    expect(settings.Version).toBe('2.54.1');
    expect(settings.Codec.Endpoint).toBe(stack.settings.PETREL_NATIVE_CODEC!.replace('127.0.0.1', 'localhost'));
  });
});

describe('two people, two workers, one key', () => {
  it('launches and managed jobs from both users run; jobs queue shows each their own, --all-users everyone', async () => {
    const [alice, bob] = users as [UnixUser, UnixUser];
    const launched = await petrel(alice, ['launch', '-c', 'team-c', '-y', '--down', 'echo launched from the other side']);
    expect(launched.code, launched.stderr).toBe(0);
    expect(launched.stdout).toBe('launched from the other side\n');
    expect(launched.stderr).not.toContain('Started');

    aliceJobs = [await submit(alice, ['-n', 'alice-1', 'echo alice one']), await submit(alice, ['-n', 'alice-2', 'echo alice two'])];
    bobJobs = [await submit(bob, ['-n', 'bob-1', 'echo bob one']), await submit(bob, ['-n', 'bob-2', 'echo bob two'])];
    for (const id of aliceJobs) await waitForJob(alice, id, succeeded, 'success');
    for (const id of bobJobs) await waitForJob(bob, id, succeeded, 'success');

    const mine = await waitForQueue(alice, [], aliceJobs);
    expect(mine.every((r) => r.user === alice.name)).toBe(true);
    await waitForQueue(bob, [], bobJobs);
    const everyone = await waitForQueue(bob, ['--all-users'], [...aliceJobs, ...bobJobs]);
    expect(Object.fromEntries(everyone.map((r) => [r.name, r.user]))).toEqual({ 'alice-1': alice.name, 'alice-2': alice.name, 'bob-1': bob.name, 'bob-2': bob.name });
    const table = (await ok(alice, ['jobs', 'queue', '-u'])).split('\n');
    expect(table[0]).toMatch(/^ID\s+NAME\s+USER\s/);
    expect(table.find((l) => l.startsWith(`${bobJobs[0]} `))).toMatch(new RegExp(`^${bobJobs[0]}\\s+bob-1\\s+${bob.name}\\s`));
  });

  it("logs cross homes: each person reads their job's output from the worker's home, and the other's too", async () => {
    const [alice, bob] = users as [UnixUser, UnixUser];
    expect(await ok(alice, ['jobs', 'logs', String(aliceJobs[0])])).toBe('alice one\n');
    expect(await ok(bob, ['jobs', 'logs', String(bobJobs[1])])).toBe('bob two\n');
    expect(await ok(bob, ['jobs', 'logs', String(aliceJobs[1])])).toBe('alice two\n');
    // the jobs ran in the workers' homes, none in the people's
    for (const user of users) expect(fs.existsSync(path.join(user.home, '.petrel', 'local'))).toBe(false);
  });
});

describe('failures of our own processes', () => {
  it("a worker SIGKILLed: the other worker runs and finishes the work; the dead one's watched runs wait for its home", async () => {
    const [alice, bob] = users as [UnixUser, UnixUser];
    const gate = newGate();
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(await submit(i % 2 ? bob : alice, ['-n', `gated-${i}`, gated(gate, `g${i}`)]));
    for (const id of ids) await waitForJob(alice, id, runningNow, 'running');
    // each run handed to its watcher (the worker's start of it done), not still being started
    for (const id of ids) await waitFor(`job ${id}'s run to be watched`, () => phaseStarted(id) || undefined, 30_000, 500);
    // The worker whose home holds the most of them dies.
    const byWorker = workers.map((w) => ids.filter((id) => homesRunning(id, 1).includes(w.home)).length);
    const victim = workers[byWorker[0]! >= byWorker[1]! ? 0 : 1]!;
    const orphaned = ids.filter((id) => homesRunning(id, 1).includes(victim.home));
    const kept = ids.filter((id) => !orphaned.includes(id));
    expect(orphaned.length).toBeGreaterThan(0);
    victim.child.kill('SIGKILL');
    await waitFor('the worker to die', () => !alive(victim.child.pid!) || undefined);

    openGate(gate);
    // The survivor finishes its own runs, and runs everything new: launches and jobs of both people.
    for (const id of kept) expect((await waitForJob(alice, id, succeeded, 'success with one worker left')).attempts).toHaveLength(1);
    const late = await submit(bob, ['-n', 'after-the-kill', 'echo after the kill']);
    await waitForJob(bob, late, succeeded, 'success on the survivor');
    expect(await ok(alice, ['jobs', 'logs', String(late)])).toBe('after the kill\n');
    const launched = await petrel(alice, ['launch', '-c', 'after-kill', '-y', '--down', 'echo launched after the kill']);
    expect(launched.code, launched.stderr).toBe(0);
    expect(launched.stdout).toBe('launched after the kill\n');

    // A local node is reached only through its worker's own task queue (petrel-worker/<home id>),
    // where the watcher of its runs lives: the dead worker's runs are finished by a worker of its
    // home (a restart, or a replica sharing the home: next test). Nothing was lost meanwhile.
    for (const id of orphaned) expect((await describeJob(alice, id)).status).toBe('RUNNING');
    workers[workers.indexOf(victim)] = startWorker(victim.home);
    for (const id of orphaned) {
      const v = await waitForJob(alice, id, succeeded, 'success once its home has a worker again', 120_000);
      expect(v.attempts).toHaveLength(1);
      expect(await ok(bob, ['jobs', 'logs', String(id)])).toBe(`g${ids.indexOf(id)}-started\ng${ids.indexOf(id)}-done\n`);
    }
  }, 400_000);

  it("compose's replicas (`--scale petrel-worker=2`: one shared home): one SIGKILLed, the other finishes every job, the dead one's included", async () => {
    const [alice, bob] = users as [UnixUser, UnixUser];
    // Only the stack's own workers now: up.sh starts two in its petrel-home volume.
    for (const w of workers) {
      w.child.kill('SIGTERM');
      await new Promise((r) => (w.child.exitCode === null && w.child.signalCode === null ? w.child.once('exit', r) : r(undefined)));
    }
    await stack.up({ PETREL_NATIVE_WORKERS: '2' });
    const [one, two] = [stack.pid('petrel-worker-1')!, stack.pid('petrel-worker-2')!];
    // (up.sh returned once both said they poll)
    expect(alive(one) && alive(two)).toBe(true);

    const gate = newGate();
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(await submit(i % 2 ? bob : alice, ['-n', `replica-${i}`, gated(gate, `r${i}`)]));
    for (const id of ids) await waitForJob(alice, id, runningNow, 'running');
    for (const id of ids) await waitFor(`job ${id}'s run to be watched`, () => phaseStarted(id) || undefined, 30_000, 500);
    process.kill(one, 'SIGKILL');
    await waitFor('replica 1 to die', () => !alive(one) || undefined);
    openGate(gate);
    for (const [i, id] of ids.entries()) {
      const v = await waitForJob(alice, id, succeeded, 'success with one replica left', 120_000);
      expect(v.attempts).toHaveLength(1);
      expect(await ok(alice, ['jobs', 'logs', String(id)])).toBe(`r${i}-started\nr${i}-done\n`);
    }
    expect(alive(two)).toBe(true);
  }, 300_000);

  it('the Temporal server restarted mid-job: Postgres keeps the state, the job ends SUCCEEDED', async () => {
    const [alice] = users as [UnixUser];
    const gate = newGate();
    const id = await submit(alice, ['-n', 'across-restart', gated(gate, 'restart')]);
    await waitForJob(alice, id, runningNow, 'running');
    const before = stack.pid('temporal');
    const stopped = await stack.down('temporal');
    expect(stopped).toMatch(/temporal\s+pid \d+\s+stopped in/);
    expect(alive(before!)).toBe(false);
    openGate(gate);
    const down = await petrel(alice, ['jobs', 'queue']);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`cannot reach Temporal at ${stack.address}`);
    await stack.up();
    expect(stack.pid('temporal')).not.toBe(before);
    const v = await waitForJob(alice, id, succeeded, 'success after the restart', 180_000);
    expect(v.recoveries).toBe(0);
    expect(await ok(alice, ['jobs', 'logs', String(id)])).toBe('restart-started\nrestart-done\n');
    // and what was there before the restart still is
    const rows = JSON.parse(await ok(alice, ['jobs', 'queue', '--json'])) as JobRow[];
    expect(rows.map((r) => r.id)).toEqual(expect.arrayContaining([...aliceJobs, id]));
  });
});

describe("the standalone UI shows the team's workflows, decoded through the codec endpoint", () => {
  it('in headless Chromium: the workflow list has both people’s jobs, and a job page shows its decoded input', async () => {
    const chromium = '/usr/bin/chromium';
    expect(fs.existsSync(chromium), 'Debian chromium is needed (apt-get install chromium; .ci/run installs it)').toBe(true);
    const { chromium: pw } = await import('playwright-core');
    const browser = await pw.launch({
      executablePath: chromium,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      // what the browser asks the codec endpoint (TEMPORAL_CODEC_ENDPOINT, as it reaches it)
      const decodes: number[] = [];
      const codecInBrowser = stack.codecUrl.replace('127.0.0.1', 'localhost');
      page.on('response', (r) => {
        if (r.url().startsWith(`${codecInBrowser}/decode`)) decodes.push(r.status());
      });
      const query = encodeURIComponent(`PetrelKind = "job"`);
      await page.goto(`${stack.uiUrl}/namespaces/${stack.namespace}/workflows?query=${query}`);
      for (const id of [...aliceJobs, ...bobJobs]) {
        await page.waitForFunction((wid) => document.body.innerText.includes(wid), `job/${id}`, { timeout: 60_000 });
      }
      // the run script is only in the (encrypted) input: seeing it means the browser had it decoded
      await page.goto(`${stack.uiUrl}/namespaces/${stack.namespace}/workflows/${encodeURIComponent(`job/${bobJobs[0]}`)}`);
      await page.waitForFunction(() => document.body.innerText.includes('echo bob one'), undefined, { timeout: 60_000 });
      expect(await page.innerText('body')).toContain('"name": "bob-1"');
      expect(decodes.length).toBeGreaterThan(0);
      expect(decodes.every((status) => status === 200)).toBe(true);
    } finally {
      await browser.close();
    }
  });
});

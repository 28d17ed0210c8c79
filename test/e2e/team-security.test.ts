// One embedded server per home, and nobody without the codec key can make a Petrel worker run
// anything: a second home and a second unix user each get their own server and worker; a raw
// `temporal workflow start` with plain JSON is refused before any workflow code runs; the
// UI shows decoded payloads only through the codec endpoint, in a real browser.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { EncryptionCodec } from '../../codec/encryption-codec.js';
import { loadKeyring } from '../../codec/keys.js';
import { withClient } from '../support/client.js';
import { running, submitJob, waitForJob } from '../support/jobs.js';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';
import { createUnixUser, makeReachable, type UnixUser } from '../support/unix-user.js';

const repo = path.resolve(import.meta.dirname, '..', '..');
const petrelBin = path.join(repo, 'bin', 'petrel.js');

let a: PetrelEnv;

beforeAll(async () => {
  a = await PetrelEnv.create();
  await a.ok(['server', 'start']);
});

afterAll(async () => {
  await a?.destroy();
});

function temporal(args: string[]): string {
  return execFileSync(inject('temporalBin'), [...args, '--address', a.address], { encoding: 'utf8' });
}

const record = (home: string) => JSON.parse(fs.readFileSync(path.join(home, 'run', 'server.json'), 'utf8')) as { port: number; uiPort: number; codecPort?: number };

describe('one embedded server per home', () => {
  it("a home whose usual port is taken by another home's server starts its own elsewhere and never uses the other", async () => {
    const b = await PetrelEnv.create();
    try {
      // b last ran on the port a holds now
      fs.mkdirSync(path.join(b.home, 'run'), { recursive: true });
      fs.writeFileSync(path.join(b.home, 'run', 'server.json'), JSON.stringify({ port: a.port, uiPort: a.port + 1000 }));
      const r = await b.run(['launch', '-y', '--down', 'echo home=$HOME'], { env: { PETREL_SERVER_PORT: '' } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`home=${b.home}/`);
      const mine = record(b.home);
      expect(mine.port).not.toBe(a.port);
      expect(r.stderr).toContain(`Started Temporal dev server on 127.0.0.1:${mine.port}`);
      const status = JSON.parse((await b.run(['server', 'status', '--json'], { env: { PETREL_SERVER_PORT: '' } })).stdout) as { address: string; server: { pid: number } };
      expect(status.address).toBe(`127.0.0.1:${mine.port}`);
      expect(status.server.pid).not.toBe(a.pidOf('temporal-server'));
      // a's server saw nothing of it
      expect(await withClient(a, async (c) => (await c.workflow.count('PetrelKind = "cluster"')).count)).toBe(0);
      await b.run(['server', 'stop'], { env: { PETREL_SERVER_PORT: '' } });
    } finally {
      await b.destroy();
    }
  });

  it("a port pinned with PETREL_SERVER_PORT that someone else holds is refused, naming whose it is, and nothing starts", async () => {
    const c = await PetrelEnv.create();
    try {
      const r = await c.run(['status'], { env: { PETREL_SERVER_PORT: String(a.port) } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port ${a.port} is in use by user root (uid 0), not by the embedded server of this PETREL_HOME (${c.home})`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(fs.existsSync(path.join(c.home, 'run', 'temporal-server.pid'))).toBe(false);
    } finally {
      await c.destroy();
    }
  });

  it("a second unix user's launch runs under that user's own server and worker, never root's", async () => {
    let user: UnixUser | undefined;
    // The other user runs this very checkout and the test's Temporal binary, wherever they are.
    const restore = makeReachable([petrelBin, inject('temporalBin')]);
    try {
      user = await createUnixUser();
      const home = path.join(user.home, '.petrel');
      const env = { PATH: process.env.PATH, PETREL_HOME: home, PETREL_TEMPORAL_BIN: inject('temporalBin'), PETREL_USER: user.name, TMPDIR: user.home };
      const r = await user.run(process.execPath, [petrelBin, 'launch', '-y', '--down', 'id -un'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(user.name);
      const mine = record(home);
      expect(mine.port).not.toBe(a.port);
      const worker = Number(fs.readFileSync(path.join(home, 'run', 'worker.pid'), 'utf8'));
      expect(Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${worker}/status`, 'utf8'))![1])).toBe(user.uid);
      await user.run(process.execPath, [petrelBin, 'server', 'stop'], env);
      await waitFor('the user worker to stop', () => !alive(worker) || undefined);
    } finally {
      await user?.remove();
      restore();
    }
  });
});

describe('payloads are encrypted; a payload without the key is refused unrun', () => {
  it('a raw `temporal workflow start` of a cluster with plain JSON creates nothing; the refusal is in the worker log and the history', async () => {
    const input = JSON.stringify({ clusterName: 'evil', provider: 'local', numNodes: 1, useSpot: false, resourcesSummary: 'x', user: 'mallory' });
    temporal(['workflow', 'start', '--type', 'clusterWorkflow', '--task-queue', 'petrel', '--workflow-id', 'cluster/evil', '--input', input]);
    const log = path.join(a.home, 'logs', 'worker.log');
    await waitFor('the refusal in the worker log', () => (fs.readFileSync(log, 'utf8').includes('refused a payload that is not encrypted with a Petrel key') ? true : undefined), 30_000);
    const history = JSON.parse(temporal(['workflow', 'show', '-w', 'cluster/evil', '--output', 'json'])) as { events: Array<{ eventType: string; workflowTaskFailedEventAttributes?: { failure: { encodedAttributes: { metadata: Record<string, string>; data: string } } } }> };
    const failed = history.events.find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_FAILED');
    expect(failed).toBeDefined();
    expect(history.events.map((e) => e.eventType)).not.toContain('EVENT_TYPE_ACTIVITY_TASK_SCHEDULED');
    // the failure itself is encrypted too; the key holder reads why
    const enc = failed!.workflowTaskFailedEventAttributes!.failure.encodedAttributes;
    const codec = new EncryptionCodec(loadKeyring(a.home));
    const decoded = codec.decrypt({ metadata: Object.fromEntries(Object.entries(enc.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])), data: Buffer.from(enc.data, 'base64') });
    expect(Buffer.from(decoded.data!).toString()).toContain('refused a payload that is not encrypted with a Petrel key');
    expect(fs.existsSync(path.join(a.home, 'local', 'clusters', 'evil'))).toBe(false);
    temporal(['workflow', 'terminate', '-w', 'cluster/evil', '--reason', 'test']);
  });

  it("a client without the key (or with another key) cannot read a job's state", async () => {
    const gate = fs.mkdtempSync(path.join(a.home, 'gate-'));
    const id = await submitJob(a, [`while [ ! -f ${gate}/go ]; do sleep 0.2; done`]);
    await waitForJob(a, id, running, 'running');
    const { Client, Connection } = await import('@temporalio/client');
    const { petrelDataConverter } = await import('../../codec/data-converter.js');
    const { managedJobStatusQuery } = await import('../../workflows/managed-job-messages.js');
    const connection = await Connection.connect({ address: a.address });
    try {
      const stranger = new Client({ connection });
      await expect(stranger.workflow.getHandle(`job/${id}`).query(managedJobStatusQuery)).rejects.toThrow(/binary\/encrypted/);
      const otherKey = loadKeyring(a.home, { PETREL_CODEC_KEY: Buffer.alloc(32, 7).toString('base64') });
      const impostor = new Client({ connection, dataConverter: petrelDataConverter(otherKey) });
      await expect(impostor.workflow.getHandle(`job/${id}`).query(managedJobStatusQuery)).rejects.toThrow(/which is not among this process's keys/);
    } finally {
      await connection.close();
    }
    fs.writeFileSync(path.join(gate, 'go'), '');
    await waitForJob(a, id, (v) => v.status === 'SUCCEEDED', 'success');
  });

  it('the codec endpoint decodes for the UI origin, never encodes without a token, and refuses other origins', async () => {
    const r = record(a.home);
    expect(r.codecPort).toBeDefined();
    const url = `http://127.0.0.1:${r.codecPort}`;
    const codec = new EncryptionCodec(loadKeyring(a.home));
    const sealed = codec.encrypt({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"hello codec"') });
    const b64 = (x: Uint8Array) => Buffer.from(x).toString('base64');
    const body = JSON.stringify({ payloads: [{ metadata: Object.fromEntries(Object.entries(sealed.metadata!).map(([k, v]) => [k, b64(v!)])), data: b64(sealed.data!) }] });
    const ui = `http://127.0.0.1:${r.uiPort}`;
    const decoded = await fetch(`${url}/decode`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', Origin: ui, 'X-Namespace': 'default' } });
    expect(decoded.status).toBe(200);
    expect(decoded.headers.get('access-control-allow-origin')).toBe(ui);
    const out = (await decoded.json()) as { payloads: Array<{ data: string }> };
    expect(Buffer.from(out.payloads[0]!.data, 'base64').toString()).toBe('"hello codec"');
    expect((await fetch(`${url}/encode`, { method: 'POST', body })).status).toBe(403);
    const preflight = await fetch(`${url}/decode`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example' } });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    // bound to 127.0.0.1 only
    await expect(portOpen('127.0.0.2', r.codecPort!)).resolves.toBe(false);
  });
});

describe('the Temporal UI shows the key holder decoded payloads', () => {
  it("a managed job's page in headless Chromium shows its decoded input", async () => {
    const chromium = '/usr/bin/chromium';
    expect(fs.existsSync(chromium), 'Debian chromium is needed (apt-get install chromium; .ci/run installs it)').toBe(true);
    const marker = `ui-marker-${Date.now()}`;
    const id = await submitJob(a, ['-n', 'ui-job', `echo ${marker}`]);
    await waitForJob(a, id, (v) => v.status === 'SUCCEEDED', 'success');
    const runId = await withClient(a, async (c) => (await c.workflow.getHandle(`job/${id}`).describe()).runId);
    const { chromium: pw } = await import('playwright-core');
    const browser = await pw.launch({
      executablePath: chromium,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${record(a.home).uiPort}/namespaces/default/workflows/${encodeURIComponent(`job/${id}`)}/${runId}/history`);
      // the run script is only in the workflow's (encrypted) input: seeing it means the UI decoded it
      await page.waitForFunction((m) => document.body.innerText.includes(m), `echo ${marker}`, { timeout: 60_000 });
      const text = await page.innerText('body');
      expect(text).toContain('"name": "ui-job"');
    } finally {
      await browser.close();
    }
  });
});

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

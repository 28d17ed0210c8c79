#!/usr/bin/env node
// Records cluster-workflow histories for the replay tests: run it after a deliberate workflow
// change (together with a patched() guard), never to paper over a replay failure.
//   npm run build && node test/replay/record-histories.mjs
// It uses a private PETREL_HOME and port, drives the real CLI, and writes
// test/replay/histories/<name>.json.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';

const repo = path.resolve(import.meta.dirname, '..', '..');
const out = path.join(repo, 'test', 'replay', 'histories');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-record-'));
const port = 27000 + Math.floor(Math.random() * 2000);
// Histories are recorded encrypted, under the test-only key the replay test decrypts them with.
const replayKey = fs.readFileSync(path.join(out, 'replay.key'), 'utf8').trim();
const env = { ...process.env, PETREL_HOME: home, PETREL_SERVER_PORT: String(port), PETREL_USER: 'recorder', PETREL_CODEC_KEY: replayKey };
delete env.TEMPORAL_ADDRESS;

function petrel(...args) {
  const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), ...args], { env, encoding: 'utf8', cwd: repo });
  console.log(`$ petrel ${args.join(' ')} -> ${r.status}`);
  return r;
}

function describe(id) {
  return JSON.parse(petrel('jobs', 'describe', String(id), '--json').stdout);
}

function waitUntil(id, ok) {
  for (let i = 0; i < 300; i++) {
    const v = describe(id);
    if (ok(v)) return v;
    spawnSync('sleep', ['0.2']);
  }
  throw new Error(`job ${id} never reached the expected state`);
}

const running = (attempts) => (v) => v.status === 'RUNNING' && v.attempts.length === attempts && v.attempts.at(-1).runKey;

const scenarios = {
  // launch with setup on 2 nodes, a second exec, a failing exec, a cancelled job, then down
  'cluster-jobs-and-down': () => {
    petrel('launch', '-c', 'rec1', '-y', '--num-nodes', '2', 'examples/hello.yaml');
    petrel('exec', 'rec1', 'echo second');
    petrel('exec', 'rec1', 'exit 3');
    petrel('exec', 'rec1', '-d', 'sleep 300');
    petrel('cancel', 'rec1', '4');
    petrel('down', 'rec1', '-y');
    return 'cluster/rec1';
  },
  // launch --down: autodown as soon as the queue is empty
  'cluster-launch-down': () => {
    petrel('launch', '-c', 'rec2', '-y', '--down', 'echo bye');
    return 'cluster/rec2';
  },
  // a managed job with setup, preempted once, recovered in another region, then succeeded
  'managed-job-recovered': () => {
    const gate = path.join(home, 'gate');
    const id = Number(petrel('jobs', 'launch', '-d', '-y', '-n', 'rec', '--workdir', 'examples/workdir-demo', `cat message.txt; while [ ! -f ${gate} ]; do sleep 0.2; done`).stdout.trim());
    waitUntil(id, running(1));
    petrel('debug', 'preempt', '--job', String(id));
    waitUntil(id, running(2));
    fs.writeFileSync(gate, '');
    return `job/${id}`;
  },
  // a managed job cancelled while it runs
  'managed-job-cancelled': () => {
    const id = Number(petrel('jobs', 'launch', '-d', '-y', 'sleep 300').stdout.trim());
    waitUntil(id, running(1));
    petrel('jobs', 'cancel', String(id), '-y');
    return `job/${id}`;
  },
  // no capacity anywhere: three passes over every region, then FAILED_NO_RESOURCE
  'managed-job-no-resource': () => {
    fs.writeFileSync(path.join(home, 'config.yaml'), 'local:\n  regions: [region-a, region-b]\n  unavailable_regions: [region-a, region-b]\n');
    petrel('jobs', 'launch', '-y', 'echo never');
    fs.writeFileSync(path.join(home, 'config.yaml'), 'local:\n  regions: [region-a, region-b, region-c]\n');
    return `job/${JSON.parse(petrel('jobs', 'queue', '--json').stdout)[0].id}`;
  },
};

const { findTemporalBinary } = await import('../../dist/cli/embedded/temporal-binary.js');
const { petrelDataConverter } = await import('../../dist/codec/data-converter.js');
const { loadKeyring } = await import('../../dist/codec/keys.js');
fs.writeFileSync(path.join(home, 'config.yaml'), 'local:\n  regions: [region-a, region-b, region-c]\n');
try {
  petrel('server', 'start');
  const temporalBin = findTemporalBinary(home);
  const client = new Client({ connection: await Connection.connect({ address: `127.0.0.1:${port}` }), dataConverter: petrelDataConverter(loadKeyring(home, env)) });
  fs.mkdirSync(out, { recursive: true });
  for (const [name, run] of Object.entries(scenarios)) {
    const workflowId = run();
    const handle = client.workflow.getHandle(workflowId);
    await handle.result().catch(() => undefined); // a cancelled job ends as Canceled
    // The CLI writes the canonical proto-JSON that historyFromJSON reads back.
    const shown = spawnSync(temporalBin, ['workflow', 'show', '-w', workflowId, '--output', 'json', '--address', `127.0.0.1:${port}`], { encoding: 'utf8' });
    if (shown.status !== 0) throw new Error(shown.stderr);
    fs.writeFileSync(path.join(out, `${name}.json`), shown.stdout);
    console.log(`wrote ${name}.json (${JSON.parse(shown.stdout).events.length} events)`);
  }
  await client.connection.close();
} finally {
  petrel('server', 'stop');
  fs.rmSync(home, { recursive: true, force: true });
}

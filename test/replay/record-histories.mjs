#!/usr/bin/env node
// Records cluster-workflow histories for the replay tests: run it after a deliberate workflow
// change (together with a patched() guard), never to paper over a replay failure.
//   npm run build && node test/replay/record-histories.mjs [SCENARIO_PREFIX]
// (with a prefix, only the scenarios whose names start with it: the others keep their recordings)
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
  // a 3-step pipeline whose middle step is preempted once and recovered
  'pipeline-recovered': () => {
    const gate = path.join(home, 'pgate');
    const file = path.join(home, 'pipeline.yaml');
    fs.writeFileSync(file, ['name: recpipe', '---', 'name: a', 'run: echo a', '---', 'name: b', `run: while [ ! -f ${gate} ]; do sleep 0.2; done`, '---', 'name: c', 'run: echo c', ''].join('\n'));
    const id = Number(petrel('jobs', 'launch', '-d', '-y', file).stdout.trim());
    const stepRunning = (attempts) => (v) => v.steps[1].job && running(attempts)(v.steps[1].job);
    waitUntil(id, stepRunning(1));
    petrel('debug', 'preempt', '--job', `${id}/1`);
    waitUntil(id, stepRunning(2));
    fs.writeFileSync(gate, '');
    return `job/${id}`;
  },
  // a pipeline whose second step fails, resumed after the cause is fixed (the history of the resumed run)
  'pipeline-resumed': () => {
    const fixed = path.join(home, 'fixed');
    const file = path.join(home, 'flaky.yaml');
    fs.writeFileSync(file, ['name: recflaky', '---', 'name: a', 'run: echo a', '---', 'name: b', `run: test -f ${fixed}`, ''].join('\n'));
    petrel('jobs', 'launch', '-y', file);
    const id = JSON.parse(petrel('jobs', 'queue', '--json').stdout)[0].id;
    fs.writeFileSync(fixed, '');
    petrel('jobs', 'resume', String(id), '-y');
    return `job/${id}`;
  },
  // a job group: a server found by hostname, a primary client, the server cancelled after its delay
  'pipeline-jobgroup': () => {
    const file = path.join(home, 'group.yaml');
    const port = 20000 + Math.floor(Math.random() * 20000);
    fs.writeFileSync(
      file,
      [
        'name: recgroup', 'execution: parallel', 'primary_tasks: [client]', 'termination_delay: 1s',
        '---', 'name: server', `run: mkdir -p w && echo hi > w/i && exec python3 -m http.server ${port} --bind 127.0.0.1 --directory w`,
        '---', 'name: client', `run: until python3 -c 'import urllib.request; urllib.request.urlopen("http://server-0.recgroup:${port}/i")'; do sleep 0.2; done`, '',
      ].join('\n'),
    );
    petrel('jobs', 'launch', '-y', file);
    return `job/${JSON.parse(petrel('jobs', 'queue', '--json').stdout)[0].id}`;
  },
};

const only = process.argv[2];
const chosen = Object.entries(scenarios).filter(([name]) => !only || name.startsWith(only));

const { findTemporalBinary } = await import('../../dist/cli/embedded/temporal-binary.js');
const { petrelDataConverter } = await import('../../dist/codec/data-converter.js');
const { loadKeyring } = await import('../../dist/codec/keys.js');
fs.writeFileSync(path.join(home, 'config.yaml'), 'local:\n  regions: [region-a, region-b, region-c]\n');
try {
  petrel('server', 'start');
  const temporalBin = findTemporalBinary(home);
  const client = new Client({ connection: await Connection.connect({ address: `127.0.0.1:${port}` }), dataConverter: petrelDataConverter(loadKeyring(home, env)) });
  fs.mkdirSync(out, { recursive: true });
  for (const [name, run] of chosen) {
    const workflowId = run();
    const handle = client.workflow.getHandle(workflowId);
    await handle.result().catch(() => undefined); // a cancelled job ends as Canceled
    // The CLI writes the canonical proto-JSON that historyFromJSON reads back.
    const shown = spawnSync(temporalBin, ['workflow', 'show', '-w', workflowId, '--output', 'json', '--address', `127.0.0.1:${port}`], { encoding: 'utf8' });
    if (shown.status !== 0) throw new Error(shown.stderr);
    fs.writeFileSync(path.join(out, `${name}.json`), shown.stdout);
    console.log(`wrote ${name}.json (${JSON.parse(shown.stdout).events.length} events)`);
    // A pipeline's steps are workflows of their own: their histories are recorded beside it.
    if (name.startsWith('pipeline-')) {
      const steps = JSON.parse(petrel('jobs', 'describe', workflowId.replace(/^job\//, ''), '--json').stdout).steps;
      for (const step of steps.filter((s) => s.workflowId)) {
        const stepShown = spawnSync(temporalBin, ['workflow', 'show', '-w', step.workflowId, '--output', 'json', '--address', `127.0.0.1:${port}`], { encoding: 'utf8' });
        if (stepShown.status !== 0) throw new Error(stepShown.stderr);
        fs.writeFileSync(path.join(out, `${name}.step-${step.index}.json`), stepShown.stdout);
      }
    }
  }
  await client.connection.close();
} finally {
  petrel('server', 'stop');
  fs.rmSync(home, { recursive: true, force: true });
}

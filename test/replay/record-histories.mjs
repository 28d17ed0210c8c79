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
const env = { ...process.env, PETREL_HOME: home, PETREL_SERVER_PORT: String(port), PETREL_USER: 'recorder' };
delete env.TEMPORAL_ADDRESS;

function petrel(...args) {
  const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), ...args], { env, encoding: 'utf8', cwd: repo });
  console.log(`$ petrel ${args.join(' ')} -> ${r.status}`);
  return r;
}

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
};

const { findTemporalBinary } = await import('../../dist/cli/embedded/temporal-binary.js');
try {
  petrel('server', 'start');
  const temporalBin = findTemporalBinary(home);
  const client = new Client({ connection: await Connection.connect({ address: `127.0.0.1:${port}` }) });
  fs.mkdirSync(out, { recursive: true });
  for (const [name, run] of Object.entries(scenarios)) {
    const workflowId = run();
    const handle = client.workflow.getHandle(workflowId);
    await handle.result();
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

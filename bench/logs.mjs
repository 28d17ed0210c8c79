#!/usr/bin/env node
// Log streaming through Temporal: a job printing 50 MiB followed by `petrel logs --follow` from
// another PETREL_HOME (same server and codec key, none of the worker's files), next to reading
// the archived file directly from disk (what the CLI did before it stopped reading the worker's
// files) in the same run. Two logs: text that compresses (numbered lines) and text that does
// not (base64 of random bytes). Prints MiB/s, the worker's peak RSS and CPU, and the CLI's.
//   npm run build && node bench/logs.mjs [MiB]
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchEnv, procStats, repo, sleep } from './support.mjs';

const mib = Number(process.argv[2] ?? 50);
const bytes = mib * 1024 * 1024;
const worker = benchEnv();
const reader = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-reader-'));

const JOBS = {
  // 128-byte lines of digits: compresses ~50x
  numbered: `seq 1 ${bytes / 128} | awk '{printf "%0127d\\n", $1}'`,
  // 128-byte lines of base64 of random bytes: compresses to ~76%
  random: `head -c ${(bytes / 128) * 96} /dev/urandom | base64 -w 127`,
};

/** Runs the CLI in the reader's home, hashing its stdout as it comes; samples worker and CLI. */
function follow(args, workerPid) {
  const env = { ...worker.env, PETREL_HOME: reader, TEMPORAL_ADDRESS: worker.address, PETREL_CODEC_KEY: fs.readFileSync(path.join(worker.home, 'secret.key'), 'utf8').trim() };
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const cpu0 = procStats(workerPid).cpuSeconds;
    const child = spawn(process.execPath, [path.join(repo, 'bin', 'petrel.js'), ...args], { env, cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    const hash = crypto.createHash('sha256');
    let got = 0;
    let stderr = '';
    let workerRss = 0;
    let cliRss = 0;
    const sample = setInterval(() => {
      try {
        workerRss = Math.max(workerRss, procStats(workerPid).rssMiB);
        cliRss = Math.max(cliRss, procStats(child.pid).rssMiB);
      } catch {
        // the CLI just exited
      }
    }, 50);
    child.stdout.on('data', (d) => {
      got += d.length;
      hash.update(d);
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      clearInterval(sample);
      if (code !== 0) return reject(new Error(`petrel ${args.join(' ')} exited ${code}: ${stderr}`));
      resolve({ seconds: (performance.now() - started) / 1000, bytes: got, sha: hash.digest('hex'), workerRss, cliRss, workerCpu: procStats(workerPid).cpuSeconds - cpu0 });
    });
  });
}

/** The archived file read straight from disk, streamed through the same hash. */
async function readFile(file) {
  const started = performance.now();
  const hash = crypto.createHash('sha256');
  let got = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    got += chunk.length;
    hash.update(chunk);
  }
  return { seconds: (performance.now() - started) / 1000, bytes: got, sha: hash.digest('hex') };
}

const rate = (r) => `${(r.bytes / 1048576 / r.seconds).toFixed(1).padStart(6)} MiB/s (${r.seconds.toFixed(2)} s)`;

try {
  worker.petrel('server', 'start');
  worker.petrel('status'); // creates the home's codec key if the worker has not yet
  const workerPid = Number(fs.readFileSync(path.join(worker.home, 'run', 'worker.pid'), 'utf8'));
  const idleRss = procStats(workerPid).rssMiB;
  worker.petrel('launch', '-c', 'warm', '-y', 'echo warm');
  await follow(['logs', 'warm', '1'], workerPid);
  console.log(`${mib} MiB job logs from another PETREL_HOME (worker RSS idle: ${idleRss.toFixed(0)} MiB)`);
  for (const [name, script] of Object.entries(JOBS)) {
    worker.petrel('launch', '-c', name, '-y', '-d', script);
    await sleep(200);
    const live = await follow(['logs', name, '1', '--follow'], workerPid);
    const archive = path.join(worker.home, 'logs', 'clusters', name, `1-run.node-0.log`);
    const finished = await follow(['logs', name, '1'], workerPid);
    const direct = await readFile(archive);
    if (live.bytes !== direct.bytes || live.sha !== direct.sha || finished.sha !== direct.sha) {
      throw new Error(`${name}: streamed ${live.bytes} B (${live.sha}), read ${finished.bytes} B (${finished.sha}), archive ${direct.bytes} B (${direct.sha})`);
    }
    const size = `${(direct.bytes / 1048576).toFixed(1)} MiB`;
    console.log(`${name} (${size}):`);
    console.log(`  logs --follow while it runs:   ${rate(live)}; worker RSS peak ${live.workerRss.toFixed(0)} MiB, worker CPU ${live.workerCpu.toFixed(1)} s; CLI RSS peak ${live.cliRss.toFixed(0)} MiB`);
    console.log(`  logs of the finished job:      ${rate(finished)}; worker RSS peak ${finished.workerRss.toFixed(0)} MiB, worker CPU ${finished.workerCpu.toFixed(1)} s; CLI RSS peak ${finished.cliRss.toFixed(0)} MiB`);
    console.log(`  the archive read from disk:    ${rate(direct)}`);
    worker.petrel('down', name, '-y');
  }
  console.log(`machine: ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
} finally {
  try {
    worker.petrel('down', '-a', '-y');
  } catch {
    // nothing left to tear down
  }
  worker.cleanup();
  fs.rmSync(reader, { recursive: true, force: true });
}

#!/usr/bin/env node
// SSH path figures against a real OpenSSH server on 127.0.0.2 (started here, key-only,
// logging in as root; needs /usr/sbin/sshd):
//  - `petrel exec CLUSTER 'echo hi'` wall time on a warm SSH cluster (first vs later execs:
//    the worker keeps its SSH connection, so later ones should be cheaper),
//  - workdir sync throughput for 1,000 small files, first sync and an unchanged re-sync.
//   npm run build && node bench/ssh.mjs [runs]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { benchEnv, median, sleep } from './support.mjs';

const runs = Number(process.argv[2] ?? 10);
const b = benchEnv();
const dir = path.join(b.home, 'sshd');
fs.mkdirSync(dir, { recursive: true });
fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'client_key')]);
fs.copyFileSync(path.join(dir, 'client_key.pub'), path.join(dir, 'authorized_keys'));
const port = 24000 + Math.floor(Math.random() * 1000);
fs.writeFileSync(
  path.join(dir, 'sshd_config'),
  [
    `ListenAddress 127.0.0.2`,
    `Port ${port}`,
    `HostKey ${dir}/host_key`,
    `PidFile ${dir}/sshd.pid`,
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'MaxSessions 50',
    'Subsystem sftp internal-sftp',
  ].join('\n') + '\n',
);
const sshd = spawn('/usr/sbin/sshd', ['-D', '-f', path.join(dir, 'sshd_config'), '-E', path.join(dir, 'sshd.log')], { stdio: 'ignore' });
const remoteRoot = `/tmp/petrel-bench-remote-${port}`;
fs.writeFileSync(
  path.join(b.home, 'config.yaml'),
  `ssh_node_pools:\n  bench:\n    user: root\n    identity_file: ${dir}/client_key\n    hosts: [{ip: 127.0.0.2, port: ${port}}]\n`,
);
const s = (ms) => `${(ms / 1000).toFixed(3)} s`;
try {
  for (let i = 0; i < 100 && !(await new Promise((r) => net.connect(port, '127.0.0.2').on('connect', function () { this.destroy(); r(true); }).on('error', () => r(false)))); i++) await sleep(50);
  b.petrel('server', 'start');
  b.petrel('launch', '--infra', 'ssh/bench', '-c', 'bench', '-y', 'true');
  const time = (...args) => {
    const t0 = performance.now();
    b.petrel(...args);
    return performance.now() - t0;
  };
  const first = time('exec', 'bench', 'echo hi');
  const later = Array.from({ length: runs }, () => time('exec', 'bench', 'echo hi'));
  console.log(`petrel exec bench 'echo hi' on a warm SSH cluster: first ${s(first)}, then median ${s(median(later))} (min ${s(Math.min(...later))}, max ${s(Math.max(...later))}) over ${runs} runs (target < 1 s)`);

  process.env.PETREL_HOME = b.home;
  const { SshProvider } = await import('../dist/providers/ssh/index.js');
  const provider = new SshProvider({ home: b.home });
  const handle = await provider.provision({ clusterName: 'sync', numNodes: 1, region: 'bench', useSpot: false, idempotencyKey: 'sync' });
  const runner = provider.runner(handle, handle.nodes[0]);
  const src = path.join(b.home, 'workdir');
  for (let i = 0; i < 1000; i++) {
    const sub = path.join(src, `d${i % 20}`);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `f${i}.txt`), `file ${i}\n`.repeat(20));
  }
  const bytes = fs.readdirSync(src, { recursive: true }).filter((f) => f.endsWith('.txt')).reduce((n, f) => n + fs.statSync(path.join(src, f)).size, 0);
  let t0 = performance.now();
  const stats = await runner.sync(src, 'sky_workdir');
  const firstSync = performance.now() - t0;
  t0 = performance.now();
  const again = await runner.sync(src, 'sky_workdir');
  const resync = performance.now() - t0;
  console.log(
    `workdir sync of 1,000 small files (${(bytes / 1024).toFixed(0)} KiB): first ${s(firstSync)} (${(1000 / (firstSync / 1000)).toFixed(0)} files/s, ${JSON.stringify(stats)}), unchanged re-sync ${s(resync)} (${JSON.stringify(again)})`,
  );
  await provider.terminate(handle);
} finally {
  try {
    b.petrel('down', '-a', '-y');
  } catch {}
  sshd.kill('SIGTERM');
  fs.rmSync(remoteRoot, { recursive: true, force: true });
  b.cleanup();
  setTimeout(() => process.exit(0), 200);
}

// Errors a user can act on, against real sshd: host keys (first use, changed), a key the
// server refuses, a key file others can read, hosts that refuse or never answer, a host that dies.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SshProvider } from '../../providers/ssh/index.js';
import { SshPool, type SshTarget } from '../../providers/ssh/connection.js';
import { SshRunner } from '../../providers/ssh/runner.js';
import { ProviderError } from '../../providers/types.js';
import { startSshd, writePoolConfig, type SshdCluster } from '../support/sshd.js';
import { waitFor } from '../support/petrel.js';
import { failure } from '../support/provider-errors.js';

let sshd: SshdCluster;
let home: string;
let pool: SshPool;

beforeAll(async () => {
  sshd = await startSshd(2);
});

afterAll(async () => {
  await sshd?.stop();
});

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-ssherr-'));
  pool = new SshPool();
});

afterEach(() => {
  pool.closeAll();
  fs.rmSync(home, { recursive: true, force: true });
});

function target(i: number, identityFile = sshd.clientKey): SshTarget {
  const h = sshd.hosts[i]!;
  return { host: h.ip, port: h.port, user: h.user, identityFile };
}

function runner(t: SshTarget): SshRunner {
  return new SshRunner({ target: t, knownHostsFile: path.join(home, 'known_hosts'), pool });
}

function sshFingerprint(pubFile: string): string {
  return execFileSync('ssh-keygen', ['-lf', pubFile]).toString().split(' ')[1]!;
}

describe('host keys', () => {
  it('a host met for the first time has its key recorded in OpenSSH known_hosts format', async () => {
    const h = sshd.hosts[0]!;
    await runner(target(0)).run('true');
    const line = fs.readFileSync(path.join(home, 'known_hosts'), 'utf8');
    const pub = fs.readFileSync(`${h.hostKey}.pub`, 'utf8').split(' ');
    expect(line).toBe(`[${h.ip}]:${h.port} ${pub[0]} ${pub[1]}\n`);
    expect(fs.statSync(path.join(home, 'known_hosts')).mode & 0o777).toBe(0o600);
    // OpenSSH itself accepts the file
    const out = execFileSync('ssh', [
      '-p', String(h.port), '-i', sshd.clientKey, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${path.join(home, 'known_hosts')}`, `${h.user}@${h.ip}`, 'echo ok',
    ]).toString();
    expect(out).toBe('ok\n');
    // a second connection does not record it again
    pool.closeAll();
    await runner(target(0)).run('true');
    expect(fs.readFileSync(path.join(home, 'known_hosts'), 'utf8')).toBe(line);
  });

  it('a changed host key is refused with the fingerprints and the fix, and nothing runs', async () => {
    const h = sshd.hosts[1]!;
    await runner(target(1)).run('true');
    const was = sshFingerprint(`${h.hostKey}.pub`);
    pool.closeAll();
    await sshd.restart(1, { newHostKey: true });
    const now = sshFingerprint(`${h.hostKey}.pub`);
    expect(now).not.toBe(was);
    const known = path.join(home, 'known_hosts');
    const err = await failure(runner(target(1)).run('touch pwned'));
    expect(err.kind).toBe('config');
    expect(err.message).toBe(
      `host key of ${h.ip}:${h.port} changed (was ${was}, now ${now}); if the machine was reinstalled, remove its line from ${known}`,
    );
    expect(fs.existsSync(path.join(h.home, 'pwned'))).toBe(false);
    // the provider says the same, and does not call the node gone
    writePoolConfig(home, sshd);
    const provider = new SshProvider({ home, pool });
    await expect(provider.provision({ clusterName: 'hk', numNodes: 1, region: 'test', hosts: [`${h.ip}:${h.port}`], useSpot: false, idempotencyKey: 'k' })).rejects.toMatchObject({
      kind: 'config',
      message: expect.stringContaining(`host key of ${h.ip}:${h.port} changed`),
    });
    // following the advice fixes it
    execFileSync('ssh-keygen', ['-R', `[${h.ip}]:${h.port}`, '-f', known], { stdio: 'ignore' });
    expect((await runner(target(1)).run('echo ok')).stdout).toBe('ok\n');
  });
});

describe('keys', () => {
  it('a key the server does not accept is a config error, without retries', async () => {
    const wrong = path.join(home, 'wrong_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
    const t = target(0, wrong);
    const started = Date.now();
    const err = await failure(runner(t).run('true'));
    expect(err.kind).toBe('config');
    expect(err.message).toContain(`permission denied for ${t.user}@${t.host}:${t.port} with identity_file ${wrong}`);
    expect(Date.now() - started).toBeLessThan(3000); // retrying would take ≥ 3.75 s
  });

  it('an identity_file others can read, or that is missing, is refused before connecting', async () => {
    const key = path.join(home, 'key');
    fs.copyFileSync(sshd.clientKey, key);
    fs.chmodSync(key, 0o644);
    const err = await failure(runner(target(0, key)).run('true'));
    expect(err.kind).toBe('config');
    expect(err.message).toBe(`identity_file ${key} is readable by others (mode 0644); run chmod 600 ${key}`);
    fs.chmodSync(key, 0o600);
    expect((await runner(target(0, key)).run('echo ok')).stdout).toBe('ok\n');

    const missing = path.join(home, 'nope');
    expect((await failure(runner(target(0, missing)).run('true'))).message).toBe(`identity_file ${missing} does not exist`);
    expect(pool.connectsTotal).toBe(1);
  });
});

describe('unreachable hosts', () => {
  it('a port nobody listens on is a transient error naming host:port after retries', async () => {
    const free = await freePort('127.0.0.9');
    const t: SshTarget = { host: '127.0.0.9', port: free, user: 'x', identityFile: sshd.clientKey };
    const started = Date.now();
    const err = await failure(runner(t).run('true'));
    expect(err.kind).toBe('transient');
    expect(err.message).toBe(`cannot reach 127.0.0.9:${free}: connection refused (ECONNREFUSED) (5 attempts)`);
    // capped exponential backoff: 250 + 500 + 1000 + 2000 ms
    expect(Date.now() - started).toBeGreaterThanOrEqual(3500);
  });

  it('query says gone/unreachable within seconds when a host dies; terminate still succeeds', async () => {
    writePoolConfig(home, sshd);
    const provider = new SshProvider({ home, pool });
    const handle = await provider.provision({ clusterName: 'dies', numNodes: 2, region: 'test', useSpot: false, idempotencyKey: 'k' });
    const r1 = provider.runner(handle, handle.nodes[1]!);
    await r1.startDetached({ key: 'j', script: 'sleep 300', env: {} });
    expect(await provider.query(handle)).toEqual([
      { rank: 0, state: 'up' },
      { rank: 1, state: 'up' },
    ]);
    const running = r1.run('touch started; sleep 60').then(
      () => undefined,
      (err: unknown) => err,
    );
    await waitFor('command running', () => fs.existsSync(path.join(sshd.hosts[1]!.home, '.petrel/clusters/dies/node-1/started')) || undefined);
    await sshd.kill(1);
    // a command in flight when the host died fails as transient, naming the host
    expect(await running).toMatchObject({ kind: 'transient', message: `lost the connection to ${sshd.hosts[1]!.ip}:${sshd.hosts[1]!.port} while a command was running` });
    const started = Date.now();
    expect(await provider.query(handle)).toEqual([
      { rank: 0, state: 'up' },
      { rank: 1, state: 'gone', reason: 'unreachable' },
    ]);
    expect(Date.now() - started).toBeLessThan(5000);
    // the runner reports a transient error naming the host, not a stack
    const err = await failure(r1.status('j'));
    expect(err.kind).toBe('transient');
    expect(err.message).toContain(`${sshd.hosts[1]!.ip}:${sshd.hosts[1]!.port}`);
    await provider.terminate(handle);
    expect(fs.existsSync(path.join(sshd.hosts[0]!.home, '.petrel/clusters/dies'))).toBe(false);
    await sshd.restart(1);
  });

  it('a host that accepts TCP but never speaks SSH is unreachable after a short timeout', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.9', r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      writePoolConfig(home, sshd);
      const provider = new SshProvider({ home, pool });
      const handle = await provider.provision({ clusterName: 'mute', numNodes: 1, region: 'test', useSpot: false, idempotencyKey: 'k' });
      const mute = { ...handle, nodes: [...handle.nodes, { ...handle.nodes[0]!, rank: 1, ip: '127.0.0.9', data: { ...handle.nodes[0]!.data, host: '127.0.0.9', port: String(port) } }] };
      const started = Date.now();
      expect(await provider.query(mute)).toEqual([
        { rank: 0, state: 'up' },
        { rank: 1, state: 'gone', reason: 'unreachable' },
      ]);
      expect(Date.now() - started).toBeLessThan(10_000);
      await provider.terminate(handle);
    } finally {
      silent.close();
    }
  });
});

function freePort(host: string): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

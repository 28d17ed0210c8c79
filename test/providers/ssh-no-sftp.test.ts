// Nodes whose sshd has no SFTP subsystem (no `Subsystem sftp` line): the runner tells that
// apart from a refused channel, asks once, and moves files, job states and logs over exec
// channels instead — workdir sync as one listing and one tar stream. Real OpenSSH servers
// (test/support/sshd.ts, started with `{ sftp: false }`), and the real CLI end to end.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NoSftpSubsystemError, SshPool, type SshTarget } from '../../providers/ssh/connection.js';
import { SshRunner } from '../../providers/ssh/runner.js';
import { END_OF_ARCHIVE, entryHeader, padding } from '../../providers/ssh/tar.js';
import { PetrelEnv, waitFor } from '../support/petrel.js';
import { startSshd, writePoolConfig, type SshdCluster } from '../support/sshd.js';

let sshd: SshdCluster;
let home: string;
let pool: SshPool;

beforeAll(async () => {
  sshd = await startSshd(2, { sftp: false });
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-nosftp-'));
  pool = new SshPool();
});

afterAll(async () => {
  pool?.closeAll();
  await sshd?.stop();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

function target(i = 0): SshTarget {
  const h = sshd.hosts[i]!;
  return { host: h.ip, port: h.port, user: h.user, identityFile: sshd.clientKey };
}

function runner(opts: { host?: number; home?: string; pool?: SshPool } = {}): SshRunner {
  return new SshRunner({ target: target(opts.host ?? 0), home: opts.home ?? 'node', knownHostsFile: path.join(home, 'known_hosts'), pool: opts.pool ?? pool });
}

/** How often the host's sshd has refused the sftp subsystem so far. */
function sftpRefusals(i: number): number {
  return (fs.readFileSync(sshd.hosts[i]!.log, 'utf8').match(/subsystem request for sftp .*failed/g) ?? []).length;
}

async function finished(r: SshRunner, key: string) {
  return waitFor(`job ${key}`, async () => {
    const s = await r.status(key);
    return s.state === 'exited' || s.state === 'lost' ? s : undefined;
  });
}

describe('a host without an SFTP subsystem', () => {
  it('is told apart from a refused channel, named plainly, and asked once per target', async () => {
    const own = new SshPool();
    const before = sftpRefusals(1);
    try {
      const r = runner({ pool: own, host: 1 });
      await own.use(target(1), { knownHostsFile: path.join(home, 'known_hosts') }, async (c) => {
        const err = await c.sftp().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(NoSftpSubsystemError);
        expect((err as Error).message).toMatch(/^127\.0\.0\.3:\d+ has no SFTP subsystem \(its sshd refused the 'sftp' subsystem: Unable to start subsystem: sftp\)/);
        expect((err as Error).message).not.toMatch(/MaxSessions/);
        expect(await c.sftpIfAvailable()).toBeUndefined();
      });
      // Many operations, in parallel too, on the same and on a new connection: one question.
      await Promise.all(Array.from({ length: 12 }, (_, i) => r.readLog(`none-${i}`, 0)));
      expect(await r.status('none')).toEqual({ state: 'unknown' });
      own.closeAll();
      expect(await r.readLog('none', 0)).toEqual({ data: '', nextOffset: 0 });
      expect(own.connectsTotal).toBe(2);
      // (sshd logs the refusal asynchronously)
      await new Promise((res) => setTimeout(res, 200));
      expect(sftpRefusals(1) - before).toBe(1);
      // the refused sessions were closed: the connection still opens its full share of channels
      expect((await Promise.all(Array.from({ length: 20 }, () => r.run('echo ok')))).every((x) => x.stdout === 'ok\n')).toBe(true);
    } finally {
      own.closeAll();
    }
  });
});

/**
 * An in-process ssh2 server whose refusals we control: the first `refuseSessions` session
 * channels are refused at open (as an sshd at MaxSessions does), and the sftp subsystem is
 * refused on an open session (as an sshd without `Subsystem sftp` does).
 */
async function refusingServer(refuseSessions: number) {
  const ssh2 = (await import('ssh2')) as unknown as typeof import('ssh2') & { default?: typeof import('ssh2') };
  const { Server, utils } = ssh2.default ?? ssh2;
  const hostKey = utils.generateKeyPairSync('ed25519').private;
  let refused = 0;
  let open = 0;
  const server = new Server({ hostKeys: [hostKey] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () => {
      client.on('session', (accept, reject) => {
        if (refused < refuseSessions) {
          refused++;
          reject();
          return;
        }
        const session = accept();
        open++;
        session.on('close', () => open--);
        session.on('exec', (acceptExec) => {
          const ch = acceptExec();
          ch.write('hi\n');
          ch.exit(0);
          ch.end();
        });
        session.on('sftp', (_accept, rejectSftp) => rejectSftp());
      });
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const key = path.join(home, `client-${crypto.randomUUID()}`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const t: SshTarget = { host: '127.0.0.1', port: (server.address() as AddressInfo).port, user: 'u', identityFile: key };
  return { target: t, refusals: () => refused, openSessions: () => open, close: () => server.close() };
}

describe('refused channels and a refused subsystem are told apart', () => {
  it('a refused channel is still retried on the same connection, then named as MaxSessions', async () => {
    const few = await refusingServer(3);
    const own = new SshPool();
    try {
      const ctx = { knownHostsFile: path.join(home, 'known_hosts-inproc') };
      const r = await own.use(few.target, ctx, (c) => c.exec('anything'));
      expect(r).toMatchObject({ exitCode: 0, timedOut: false });
      expect(r.stdout.toString()).toBe('hi\n');
      expect(few.refusals()).toBe(3);
      // the subsystem refusal on an open session is not retried and not blamed on MaxSessions
      await expect(own.use(few.target, ctx, (c) => c.sftp())).rejects.toThrow(/has no SFTP subsystem .*Unable to start subsystem: sftp/);
      expect(few.refusals()).toBe(3);
      // and the session it was asked on is closed (ssh2 leaves it open; the server would count it)
      await waitFor('the refused session to close', () => few.openSessions() === 0 || undefined, 5_000);
      expect(own.connectsTotal).toBe(1);
    } finally {
      own.closeAll();
      few.close();
    }
    const all = await refusingServer(1000);
    const own2 = new SshPool();
    try {
      await expect(own2.use(all.target, { knownHostsFile: path.join(home, 'known_hosts-inproc') }, (c) => c.exec('x'))).rejects.toThrow(
        /refused to open a session \(.*\); does its sshd allow only a few sessions per connection \(MaxSessions\)\?/,
      );
      expect(all.refusals()).toBe(9);
    } finally {
      own2.closeAll();
      all.close();
    }
  });
});

describe('the tar writer', () => {
  it('writes what GNU tar reads back: pax names, link targets and times outside ustar', () => {
    const name = `${'n'.repeat(150)}/${'é'.repeat(80)}.txt`;
    const parts = [
      entryHeader({ type: 'dir', path: 'd', mode: 0o750, mtime: 1_000_000_000 }),
      entryHeader({ type: 'file', path: name, mode: 0o640, mtime: -86_400, size: 3 }),
      Buffer.from('abc'),
      padding(3),
      entryHeader({ type: 'file', path: 'd/future', mode: 0o600, mtime: 2 ** 33 + 100, size: 0 }),
      entryHeader({ type: 'symlink', path: 'd/link', mtime: 5, target: `../${name}` }),
      END_OF_ARCHIVE,
    ];
    const dir = fs.mkdtempSync(path.join(home, 'tar-'));
    execFileSync('tar', ['-x', '-o', '-p', '-f', '-'], { cwd: dir, input: Buffer.concat(parts) });
    expect(fs.readFileSync(path.join(dir, name), 'utf8')).toBe('abc');
    expect(fs.statSync(path.join(dir, name)).mtimeMs).toBe(-86_400_000);
    expect(fs.statSync(path.join(dir, name)).mode & 0o7777).toBe(0o640);
    expect(fs.statSync(path.join(dir, 'd/future')).mtimeMs).toBe((2 ** 33 + 100) * 1000);
    expect(fs.statSync(path.join(dir, 'd')).mode & 0o7777).toBe(0o750);
    expect(fs.readlinkSync(path.join(dir, 'd/link'))).toBe(`../${name}`);
    expect(fs.readFileSync(path.join(dir, 'd/link'), 'utf8')).toBe('abc');
    // sizes past ustar's 8 GiB go in a pax record too
    const huge = entryHeader({ type: 'file', path: 'huge', mode: 0o644, mtime: 0, size: 2 ** 33 + 1 }).toString('latin1');
    expect(huge).toContain('19 size=8589934593\n');
  });
});

describe('workdir sync over exec', () => {
  it('copies a tree (modes, mtimes, symlinks, odd and long names), skips what is unchanged, re-sends what changed', async () => {
    const src = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-upload-exec-'));
    const write = (rel: string, data: string | Buffer, mode?: number) => {
      fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
      fs.writeFileSync(path.join(src, rel), data);
      if (mode !== undefined) fs.chmodSync(path.join(src, rel), mode);
    };
    const longName = `${'long-name-'.repeat(12)}end.txt`; // 127 bytes
    const deep = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(60)}/deep.txt`; // a path past ustar's 100 bytes
    const big = crypto.randomBytes(3 * 1024 * 1024 + 17);
    write('.gitignore', '*.log\nbuild/\n!keep.log\n');
    write('train.py', 'print("hi")\n');
    write('run.sh', '#!/bin/sh\necho run\n', 0o755);
    write('private.key', 'secret\n', 0o600);
    write('sub/data.csv', 'a,b\n');
    write('sub/deep/keep.log', 'negated\n');
    write('sub/deep/x.log', 'ignored\n');
    write('build/out.bin', 'ignored dir\n');
    write('.git/HEAD', 'ref\n');
    write('node_modules/m/index.js', 'x\n');
    write('with spaces and  double.txt', 'spaces\n');
    write('ünïcødé/漢字 😀.txt', 'unicode\n');
    write(longName, 'long\n');
    write(deep, 'deep\n');
    write('empty', '');
    write('big.bin', big);
    write('-dash', 'dash\n');
    fs.mkdirSync(path.join(src, 'emptydir'));
    fs.chmodSync(path.join(src, 'emptydir'), 0o750);
    fs.symlinkSync('train.py', path.join(src, 'link.py'));
    fs.symlinkSync(`../${longName}`, path.join(src, 'sub', 'long-link'));
    const old = new Date('2001-02-03T04:05:06Z');
    fs.utimesSync(path.join(src, 'train.py'), old, old);
    try {
      const r = runner();
      const expected = [
        '.gitignore',
        'train.py',
        'run.sh',
        'private.key',
        'sub/data.csv',
        'sub/deep/keep.log',
        'with spaces and  double.txt',
        'ünïcødé/漢字 😀.txt',
        longName,
        deep,
        'empty',
        'big.bin',
        '-dash',
      ];
      const first = await r.sync(src, 'proj');
      expect(first).toMatchObject({ files: expected.length, uploaded: expected.length, skipped: 0 });
      const dest = path.join(sshd.hosts[0]!.home, 'node', 'proj');
      for (const rel of expected) {
        expect(fs.readFileSync(path.join(dest, rel)).equals(fs.readFileSync(path.join(src, rel))), rel).toBe(true);
        const [a, b] = [fs.statSync(path.join(src, rel)), fs.statSync(path.join(dest, rel))];
        expect(b.mode & 0o7777, rel).toBe(a.mode & 0o7777);
        expect(Math.floor(b.mtimeMs / 1000), rel).toBe(Math.floor(a.mtimeMs / 1000));
        expect(b.uid, rel).toBe(sshd.hosts[0]!.uid);
      }
      expect(fs.statSync(path.join(dest, 'train.py')).mtime.toISOString()).toBe(old.toISOString());
      const listed = (await r.run('find proj -type f -o -type l | LC_ALL=C sort')).stdout.trim().split('\n');
      expect(listed).toEqual([...expected, 'link.py', 'sub/long-link'].map((f) => `proj/${f}`).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
      expect(fs.readlinkSync(path.join(dest, 'link.py'))).toBe('train.py');
      expect(fs.readFileSync(path.join(dest, 'sub', 'long-link'), 'utf8')).toBe('long\n');
      expect(fs.statSync(path.join(dest, 'emptydir')).mode & 0o777).toBe(0o750);
      expect((await r.run('./proj/run.sh')).stdout).toBe('run\n');

      const second = await r.sync(src, 'proj');
      expect(second).toEqual({ files: expected.length, uploaded: 0, skipped: expected.length, bytes: 0 });

      write('sub/data.csv', 'a,b\n1,2\n');
      write('new dir/new.txt', 'new\n');
      const third = await r.sync(src, 'proj');
      expect(third).toEqual({ files: expected.length + 1, uploaded: 2, skipped: expected.length - 1, bytes: 8 + 4 });
      expect(fs.readFileSync(path.join(dest, 'sub/data.csv'), 'utf8')).toBe('a,b\n1,2\n');
      expect(fs.readFileSync(path.join(dest, 'new dir/new.txt'), 'utf8')).toBe('new\n');

      // what is in the way of a local directory goes: a file, a symlink (never written through)
      const outside = path.join(sshd.hosts[0]!.home, 'outside');
      await r.run(`rm -rf proj/sub && echo file > proj/sub && mkdir -p ../outside && rm -rf "proj/new dir" && ln -s ../../outside "proj/new dir"`);
      const fourth = await r.sync(src, 'proj');
      expect(fourth).toMatchObject({ uploaded: 3 });
      expect(fs.readFileSync(path.join(dest, 'sub/data.csv'), 'utf8')).toBe('a,b\n1,2\n');
      expect(fs.lstatSync(path.join(dest, 'new dir')).isDirectory()).toBe(true);
      expect(fs.readdirSync(outside)).toEqual([]);

      // a file here but a directory there is the same config error as over SFTP
      await r.run('rm -f proj/empty && mkdir proj/empty');
      await expect(r.sync(src, 'proj')).rejects.toMatchObject({
        kind: 'config',
        message: `cannot upload empty: it is a file here but a directory on ${sshd.hosts[0]!.ip}`,
      });
      await r.run('rmdir proj/empty && rm proj/link.py && mkdir proj/link.py');
      fs.unlinkSync(path.join(src, 'empty'));
      await expect(r.sync(src, 'proj')).rejects.toMatchObject({
        kind: 'config',
        message: `cannot upload link.py: it is a symlink here but a directory on ${sshd.hosts[0]!.ip}`,
      });

      // `~/x` is the user's real home; the CommandRunner entry point does the same
      await r.upload(path.join(src, 'sub'), '~/tilde');
      expect(fs.readFileSync(path.join(sshd.hosts[0]!.home, 'tilde', 'data.csv'), 'utf8')).toBe('a,b\n1,2\n');
      // a destination that is a file cannot be created
      await r.run('echo x > blocked');
      await expect(r.sync(path.join(src, 'sub'), 'blocked')).rejects.toThrow(/cannot create node\/blocked on 127\.0\.0\.2:\d+/);
    } finally {
      fs.rmSync(src, { recursive: true, force: true });
    }
  });
});

describe('detached jobs over exec', () => {
  it('start, running, exit code, attach on a second start', async () => {
    const r = runner();
    const gate = path.join(sshd.hosts[0]!.home, 'node', 'gate');
    const spec = { key: 'job-1', script: `echo "hi $FOO"; while [ ! -f ${gate} ]; do sleep 0.1; done; exit 7`, env: { FOO: 'bar baz' } };
    expect(await r.startDetached(spec)).toEqual({ alreadyStarted: false });
    expect(await r.status('job-1')).toEqual({ state: 'running' });
    await waitFor('the pid file', () => fs.existsSync(path.join(sshd.hosts[0]!.home, 'node/.petrel/jobs/job-1/pid')) || undefined);
    // from another runner too (no "just started" grace): the script decides
    expect(await runner({ pool: new SshPool() }).status('job-1')).toEqual({ state: 'running' });
    expect(await r.startDetached(spec)).toEqual({ alreadyStarted: true });
    fs.writeFileSync(gate, '');
    expect(await finished(r, 'job-1')).toEqual({ state: 'exited', exitCode: 7 });
    expect(await r.readLog('job-1', 0)).toEqual({ data: 'hi bar baz\n', nextOffset: 11 });
    expect(await r.status('never-started')).toEqual({ state: 'unknown' });
  });

  it('a job whose process group is killed without an exit code is lost', async () => {
    const r = runner();
    await r.startDetached({ key: 'doomed', script: 'sleep 300', env: {} });
    const pidFile = path.join(sshd.hosts[0]!.home, 'node/.petrel/jobs/doomed/pid');
    const pgid = await waitFor('pid', () => (fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() ? Number(fs.readFileSync(pidFile, 'utf8')) : undefined));
    process.kill(-pgid, 'SIGKILL');
    expect(await finished(r, 'doomed')).toEqual({ state: 'lost' });
  });

  it('reads the log from any offset, never splitting a UTF-8 character', async () => {
    const r = runner();
    const text = 'aé漢😀b\n'.repeat(8) + 'end\n';
    await r.startDetached({ key: 'utf8', script: `printf '%s' '${text}'`, env: {} });
    expect(await finished(r, 'utf8')).toEqual({ state: 'exited', exitCode: 0 });
    const bytes = Buffer.byteLength(text);
    for (const chunk of [4, 5, 7, 1000]) {
      let offset = 0;
      let all = '';
      for (;;) {
        const c = await r.readLog('utf8', offset, chunk);
        expect(c.data).not.toContain('\uFFFD');
        expect(Buffer.byteLength(c.data)).toBe(c.nextOffset - offset);
        if (c.nextOffset === offset) break;
        all += c.data;
        offset = c.nextOffset;
      }
      expect(all).toBe(text);
      expect(offset).toBe(bytes);
    }
    // a limit inside the 4-byte 😀 (bytes 6..9) ends the chunk before it
    expect(await r.readLog('utf8', 0, 8)).toEqual({ data: 'aé漢', nextOffset: 6 });
    expect(await r.readLog('utf8', 6, 4)).toEqual({ data: '😀', nextOffset: 10 });
    expect(await r.readLog('utf8', bytes, 100)).toEqual({ data: '', nextOffset: bytes });
    expect(await r.readLog('utf8', bytes + 50, 100)).toEqual({ data: '', nextOffset: bytes + 50 });
    expect(await r.readLog('no-such-job', 0)).toEqual({ data: '', nextOffset: 0 });
  });
});

describe('petrel on a pool without SFTP', () => {
  let p: PetrelEnv;
  afterAll(async () => {
    await p?.destroy();
  });

  it('launch --workdir syncs and runs, well within a minute', async () => {
    p = await PetrelEnv.create();
    writePoolConfig(p.home, sshd, 'nosftp');
    await p.ok(['server', 'start']);
    const work = fs.mkdtempSync(path.join(p.home, 'work-'));
    fs.writeFileSync(path.join(work, 'file.txt'), 'hello from a host without sftp\n');
    fs.mkdirSync(path.join(work, 'sub'));
    fs.writeFileSync(path.join(work, 'sub', 'more.txt'), 'more\n');
    const started = Date.now();
    const r = await p.run(['launch', '--workdir', work, '-y', '--infra', 'ssh/nosftp', '-c', 'ns', '--down', 'cat file.txt sub/more.txt'], { timeoutMs: 60_000 });
    const took = Date.now() - started;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('hello from a host without sftp\nmore\n');
    expect(took).toBeLessThan(60_000);
    const check = await p.ok(['check', 'ssh']);
    expect(check.stdout).toMatch(/no SFTP subsystem on 127\.0\.0\.\d+:\d+(, 127\.0\.0\.\d+:\d+)*: using exec transfers/);
  });

  it('file_mounts reach the node, and logs and job states are read over exec', async () => {
    const src = fs.mkdtempSync(path.join(p.home, 'mnt-'));
    fs.mkdirSync(path.join(src, 'data'));
    fs.writeFileSync(path.join(src, 'data', 'a.txt'), 'dir mount\n');
    fs.writeFileSync(path.join(src, 'cfg'), 'file mount\n');
    const yaml = path.join(src, 'task.yaml');
    fs.writeFileSync(yaml, `file_mounts:\n  ~/data: ${src}/data\n  ~/etc/cfg: ${src}/cfg\nrun: cat ~/data/a.txt ~/etc/cfg; echo done; exit 3\n`);
    const r = await p.run(['launch', yaml, '-y', '--infra', 'ssh/nosftp', '-c', 'mnt'], { timeoutMs: 60_000 });
    expect(r.stdout).toContain('dir mount\nfile mount\ndone\n');
    expect(r.code).not.toBe(0); // the job's exit code 3 was read back
    const logs = await p.run(['logs', 'mnt', '1']);
    expect(logs.stdout).toBe('dir mount\nfile mount\ndone\n');
    await p.ok(['down', 'mnt', '-y']);
  });
});

// SshRunner against real OpenSSH servers (test/support/sshd.ts): commands, env, timeouts,
// detached jobs with the local provider's contract, log reads, workdir sync and connection reuse.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshPool, type SshTarget } from '../../providers/ssh/connection.js';
import { SshRunner } from '../../providers/ssh/runner.js';
import { startSshd, type SshdCluster } from '../support/sshd.js';
import { alive, waitFor } from '../support/petrel.js';

let sshd: SshdCluster;
let home: string;
let pool: SshPool;

beforeAll(async () => {
  sshd = await startSshd(2);
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-ssh-'));
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
  return new SshRunner({
    target: target(opts.host ?? 0),
    home: opts.home ?? 'node',
    knownHostsFile: path.join(home, 'known_hosts'),
    pool: opts.pool ?? pool,
  });
}

async function finished(r: SshRunner, key: string) {
  return waitFor(`job ${key}`, async () => {
    const s = await r.status(key);
    return s.state === 'exited' || s.state === 'lost' ? s : undefined;
  });
}

describe('ssh runner: commands', () => {
  it('runs a command in the node home and returns exit code, stdout and stderr', async () => {
    const r = await runner().run('echo out; echo err >&2; pwd; exit 3');
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe(`out\n${path.join(sshd.hosts[0]!.home, 'node')}\n`);
    expect(r.stderr).toBe('err\n');
  });

  it('passes environment variables through verbatim', async () => {
    const env = { PLAIN: 'x', SPACES: 'a b  c', QUOTES: `it's "quoted"`, DOLLAR: '$HOME `id` $(id)', UNICODE: 'héllo 漢字' };
    const r = await runner().run('printf "%s|" "$PLAIN" "$SPACES" "$QUOTES" "$DOLLAR" "$UNICODE"', { env });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${Object.values(env).join('|')}|`);
  });

  it('a command that outlives timeoutMs is killed with its children and reports 124', async () => {
    const started = Date.now();
    const r = await runner().run('sleep 30 & sleep 31; echo never', { timeoutMs: 1000 });
    expect(r.exitCode).toBe(124);
    expect(r.stdout).toBe('');
    expect(Date.now() - started).toBeLessThan(10_000);
    await waitFor('no sleeps left', () => !sshd.userProcesses(0).some((pid) => cmdline(pid).startsWith('sleep 3')) || undefined, 10_000);
  });

  it('a relative path is relative to the remote home directory', async () => {
    const r = await runner({ home: '' }).run('pwd');
    expect(r.stdout.trim()).toBe(sshd.hosts[0]!.home);
  });
});

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

describe('ssh runner: detached jobs', () => {
  it('records output and exit code; starting it again attaches instead of rerunning', async () => {
    const spec = { key: '1-run', script: 'echo run >> ../runs.txt; echo "out $FOO $PWD"; exit 5', env: { FOO: "b'ar" }, cwd: 'work' };
    const r = runner();
    expect(await r.startDetached(spec)).toEqual({ alreadyStarted: false });
    expect(await r.startDetached(spec)).toEqual({ alreadyStarted: true });
    expect(await finished(r, '1-run')).toEqual({ state: 'exited', exitCode: 5 });
    // started again after it finished: still attaches
    expect(await r.startDetached(spec)).toEqual({ alreadyStarted: true });
    const nodeHome = path.join(sshd.hosts[0]!.home, 'node');
    expect((await r.readLog('1-run', 0)).data).toBe(`out b'ar ${nodeHome}/work\n`);
    expect(fs.readFileSync(path.join(nodeHome, 'runs.txt'), 'utf8')).toBe('run\n');
    // the job dir follows the local contract; env.sh (which may hold secrets) is gone once read
    const jobDir = path.join(nodeHome, '.petrel/jobs/1-run');
    expect(fs.readdirSync(jobDir).sort()).toEqual(['exit_code', 'output.log', 'pid', 'script.sh']);
    expect(fs.statSync(jobDir).mode & 0o777).toBe(0o700);
    expect(await r.status('never-started')).toEqual({ state: 'unknown' });
  });

  it('concurrent starts of one key run it once', async () => {
    const spec = { key: 'race', script: 'echo x >> race.txt', env: {} };
    const results = await Promise.all([runner().startDetached(spec), runner().startDetached(spec), runner().startDetached(spec)]);
    expect(results.filter((x) => !x.alreadyStarted)).toHaveLength(1);
    expect(await finished(runner(), 'race')).toEqual({ state: 'exited', exitCode: 0 });
    expect(fs.readFileSync(path.join(sshd.hosts[0]!.home, 'node', 'race.txt'), 'utf8')).toBe('x\n');
  });

  it('a job survives the connection closing, and SIGTERM to its group records 143', async () => {
    const own = new SshPool();
    const r = runner({ pool: own });
    await r.startDetached({ key: 'long', script: 'sleep 300 & echo $! > sleep.pid; wait', env: {} });
    await waitFor('running', async () => ((await r.status('long')).state === 'running' ? true : undefined));
    const pidFile = path.join(sshd.hosts[0]!.home, 'node', 'sleep.pid');
    const sleepPid = await waitFor('sleep pid', () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : undefined));
    own.closeAll();
    await new Promise((res) => setTimeout(res, 300));
    const again = runner();
    expect(await again.status('long')).toEqual({ state: 'running' });
    await again.signal('long', 'SIGTERM');
    expect(await finished(again, 'long')).toEqual({ state: 'exited', exitCode: 143 });
    await waitFor('sleep gone', () => !fs.existsSync(`/proc/${sleepPid}`) || /^State:\s+Z/m.test(fs.readFileSync(`/proc/${sleepPid}/status`, 'utf8')) || undefined);
  });

  it('a job whose processes are killed without an exit code is lost', async () => {
    const r = runner();
    await r.startDetached({ key: 'doomed', script: 'sleep 300', env: {} });
    const pidFile = path.join(sshd.hosts[0]!.home, 'node/.petrel/jobs/doomed/pid');
    const pgid = await waitFor('pid', () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : undefined));
    process.kill(-pgid, 'SIGKILL');
    expect(await finished(r, 'doomed')).toEqual({ state: 'lost' });
  });

  it('a killed wrapper is lost even while its children linger; SIGKILL to the job clears them', async () => {
    const r = runner();
    await r.startDetached({ key: 'orphan', script: 'sleep 300 & echo $! > orphan.pid; wait', env: {} });
    const nodeHome = path.join(sshd.hosts[0]!.home, 'node');
    const read = (f: string) => () => (fs.existsSync(f) && fs.readFileSync(f, 'utf8').trim() ? Number(fs.readFileSync(f, 'utf8')) : undefined);
    const wrapper = await waitFor('wrapper pid', read(path.join(nodeHome, '.petrel/jobs/orphan/pid')));
    const child = await waitFor('child pid', read(path.join(nodeHome, 'orphan.pid')));
    process.kill(wrapper, 'SIGKILL');
    expect(await finished(r, 'orphan')).toEqual({ state: 'lost' });
    expect(alive(child)).toBe(true);
    await r.signal('orphan', 'SIGKILL');
    await waitFor('child gone', () => !alive(child) || undefined, 5_000);
  });

  it('reads the log from any offset without splitting a UTF-8 character', async () => {
    const r = runner();
    const text = 'aé漢😀b\n'.repeat(50) + 'end\n';
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
    // a chunk limit that falls inside a character ends the chunk before it
    const mid = await r.readLog('utf8', 0, 2);
    expect(mid).toEqual({ data: 'a', nextOffset: 1 });
    expect(await r.readLog('utf8', bytes, 100)).toEqual({ data: '', nextOffset: bytes });
    expect(await r.readLog('no-such-job', 0)).toEqual({ data: '', nextOffset: 0 });
  });
});

describe('ssh runner: upload', () => {
  it('honours .gitignore and skips unchanged files on the second upload', async () => {
    const src = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-upload-'));
    const write = (rel: string, text: string, mode?: number) => {
      fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
      fs.writeFileSync(path.join(src, rel), text);
      if (mode) fs.chmodSync(path.join(src, rel), mode);
    };
    write('.gitignore', '# comment\n*.log\nbuild/\n/secret.txt\ncache\n!keep.log\n');
    write('train.py', 'print("hi")\n');
    write('run.sh', '#!/bin/sh\necho run\n', 0o755);
    write('sub/data.csv', 'a,b\n');
    write('sub/secret.txt', 'only the top-level secret.txt is ignored\n');
    write('sub/deep/keep.log', 'negated\n');
    write('x.log', 'ignored\n');
    write('sub/y.log', 'ignored\n');
    write('build/out.bin', 'ignored dir\n');
    write('secret.txt', 'ignored (anchored)\n');
    write('cache', 'ignored name\n');
    write('sub/cache/z', 'ignored dir by name\n');
    write('.git/HEAD', 'ref\n');
    write('node_modules/m/index.js', 'x\n');
    write('__pycache__/c.pyc', 'x\n');
    fs.symlinkSync('train.py', path.join(src, 'link.py'));
    try {
      const r = runner();
      const first = await r.sync(src, 'proj');
      const expected = ['.gitignore', 'run.sh', 'sub/data.csv', 'sub/deep/keep.log', 'sub/secret.txt', 'train.py'];
      expect(first).toMatchObject({ files: expected.length, uploaded: expected.length, skipped: 0 });
      const dest = path.join(sshd.hosts[0]!.home, 'node', 'proj');
      const listed = (await r.run('find proj -type f -o -type l | sort')).stdout.trim().split('\n');
      expect(listed).toEqual([...expected, 'link.py'].map((f) => `proj/${f}`).sort());
      expect(fs.readlinkSync(path.join(dest, 'link.py'))).toBe('train.py');
      expect(fs.statSync(path.join(dest, 'run.sh')).mode & 0o777).toBe(0o755);
      expect((await r.run('./proj/run.sh')).stdout).toBe('run\n');
      expect(fs.readFileSync(path.join(dest, 'sub/data.csv'), 'utf8')).toBe('a,b\n');

      const second = await r.sync(src, 'proj');
      expect(second).toEqual({ files: expected.length, uploaded: 0, skipped: expected.length, bytes: 0 });

      write('sub/data.csv', 'a,b\n1,2\n');
      write('new.txt', 'new\n');
      const third = await r.sync(src, 'proj');
      expect(third).toMatchObject({ files: expected.length + 1, uploaded: 2, skipped: expected.length - 1 });
      expect(fs.readFileSync(path.join(dest, 'sub/data.csv'), 'utf8')).toBe('a,b\n1,2\n');

      // the CommandRunner entry point does the same
      await expect(r.upload(src, 'proj')).resolves.toBeUndefined();
      // relative to the remote home when the runner is rooted at ~
      await runner({ home: '' }).upload(src, 'at-home');
      expect(fs.existsSync(path.join(sshd.hosts[0]!.home, 'at-home', 'train.py'))).toBe(true);
      // and `~/x` means the user's real home, as it does for the job
      await r.upload(src, '~/tilde');
      expect(fs.existsSync(path.join(sshd.hosts[0]!.home, 'tilde', 'train.py'))).toBe(true);
    } finally {
      fs.rmSync(src, { recursive: true, force: true });
    }
  });
});

describe('ssh runner: connections', () => {
  it('reuses one connection per host across commands and runners', async () => {
    const own = new SshPool();
    try {
      const a = runner({ pool: own });
      await a.run('true');
      expect(own.connectsTotal).toBe(1);
      await a.run('true');
      await runner({ pool: own }).status('nothing');
      await runner({ pool: own }).readLog('nothing', 0);
      await Promise.all(Array.from({ length: 20 }, () => runner({ pool: own }).run('echo hi')));
      expect(own.connectsTotal).toBe(1);
      await runner({ pool: own, host: 1 }).run('true');
      expect(own.connectsTotal).toBe(2);
      expect(own.size).toBe(2);
    } finally {
      own.closeAll();
    }
  });

  // (That an idle connection does not keep a process alive is tested end to end with
  // `petrel check ssh` in ssh-provider.test.ts.)
  it('an idle connection is closed after the idle period', async () => {
    const own = new SshPool({ idleMs: 500 });
    await runner({ pool: own }).run('true');
    expect(own.size).toBe(1);
    await waitFor('idle close', () => own.size === 0 || undefined, 5_000);
    await runner({ pool: own }).run('true');
    expect(own.connectsTotal).toBe(2);
    own.closeAll();
  });

  it('a connection that died is replaced transparently', async () => {
    const own = new SshPool();
    try {
      await runner({ pool: own }).run('true');
      // kill this connection's session processes on the server (not the listener)
      const sessionSshd = sshd.userProcesses(0).filter((pid) => cmdline(pid).startsWith('sshd:'));
      expect(sessionSshd.length).toBeGreaterThan(0);
      for (const pid of sessionSshd) process.kill(pid, 'SIGKILL');
      await waitFor('closed', () => own.size === 0 || undefined, 5_000);
      expect((await runner({ pool: own }).run('echo back')).stdout).toBe('back\n');
      expect(own.connectsTotal).toBe(2);
    } finally {
      own.closeAll();
    }
  });
});

// Real OpenSSH servers for the SSH provider tests: N sshd on 127.0.0.2..N+1, each with its own
// host key, all accepting one shared client key (key-only, from a per-test authorized_keys).
//
// Home isolation: every "host" logs in as its own throw-away unix user whose home is a
// directory under the test's scratch dir (useradd at start, userdel at the end). sshd takes
// the login directory from the user's passwd entry, so `~` is the same for exec sessions and
// for SFTP, and mode 0700 keeps one host's files out of the others' sight, as if they were
// different machines. (SetEnv HOME changes neither the login directory nor SFTP's `~`;
// ChrootDirectory would need a whole userland inside each root.) Each sshd also allows only its
// own user (AllowUsers), so a test cannot reach host 2's files through host 1.
//
// Shared homes (`sharedUser: true`): every sshd serves ONE unix user with one home, the shape
// of an NFS cluster (or one machine reached under several addresses). A host's processes are
// then told apart by the server address in their SSH_CONNECTION, which every session — and
// every detached job started from one — inherits.
//
// Needs root (useradd) and /usr/sbin/sshd (apt-get install openssh-server; .ci/run does it).
// Everything is stopped by pid: each sshd, its session processes, and every process of its
// user (detached jobs live in their own sessions). Nothing is left behind.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { withPasswdLock } from './unix-user.js';

export const SSHD = '/usr/sbin/sshd';

export interface SshdHost {
  index: number;
  ip: string;
  port: number;
  user: string;
  uid: number;
  home: string;
  hostKey: string;
  config: string;
  log: string;
  /** pid of the listening sshd (0 while stopped) */
  pid: number;
}

export interface SshdCluster {
  dir: string;
  /** private key every host accepts (mode 600) */
  clientKey: string;
  authorizedKeys: string;
  hosts: SshdHost[];
  /** The host dies: its sshd, open sessions and every process of its user are SIGKILLed. */
  kill(index: number): Promise<void>;
  /** Starts a killed host again (same ip:port), optionally with a new host key. */
  restart(index: number, opts?: { newHostKey?: boolean }): Promise<void>;
  /** pids of processes running as the host's user */
  userProcesses(index: number): number[];
  stop(): Promise<void>;
}

function requireSetup(): void {
  if (!fs.existsSync(SSHD)) {
    throw new Error(`${SSHD} is missing: the SSH provider tests need a real OpenSSH server; install it with 'apt-get install -y openssh-server' (.ci/run does this)`);
  }
  if (process.getuid?.() !== 0) {
    throw new Error('the SSH provider tests must run as root: they create one throw-away unix user per test host (useradd)');
  }
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
}

function keygen(file: string, comment: string): void {
  fs.rmSync(file, { force: true });
  fs.rmSync(`${file}.pub`, { force: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { stdio: 'ignore' });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function procIds(): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

function procStatus(pid: number): { uid: number; ppid: number; zombie: boolean } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(text)?.[1]);
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(text)?.[1]);
    const zombie = /^State:\s+Z/m.test(text);
    return { uid, ppid, zombie };
  } catch {
    return undefined;
  }
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of procIds()) {
    const s = procStatus(pid);
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(pid);
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    for (const c of children.get(todo.pop()!) ?? []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

function processesOf(uid: number): number[] {
  return procIds().filter((pid) => {
    const s = procStatus(pid);
    return s !== undefined && s.uid === uid && !s.zombie;
  });
}

/** The server side (`ip port`) of the SSH session a process descends from, if any. */
function sshServerOf(pid: number): string | undefined {
  try {
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const conn = env.find((e) => e.startsWith('SSH_CONNECTION='))?.slice('SSH_CONNECTION='.length).split(' ');
    return conn && conn.length === 4 ? `${conn[2]} ${conn[3]}` : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  const s = procStatus(pid);
  return s !== undefined && !s.zombie;
}

async function killAll(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < deadline) await sleep(20);
}

function portFree(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: ip, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Resolves once the server sends its SSH banner. */
async function waitForBanner(ip: string, port: number, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
      throw Object.assign(new Error(`sshd on ${ip}:${port} exited: ${text.trim().split('\n').slice(-3).join(' | ')}`), { log: text });
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: ip, port });
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.once('data', (d) => done(d.toString().startsWith('SSH-')));
      s.once('error', () => done(false));
      s.setTimeout(1000, () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd on ${ip}:${port} did not answer within 10s`);
    await sleep(50);
  }
}

function writeConfig(h: SshdHost, authorizedKeys: string, sftp: boolean, setEnv: Record<string, string> = {}): void {
  fs.writeFileSync(
    h.config,
    [
      `ListenAddress ${h.ip}`,
      `Port ${h.port}`,
      `HostKey ${h.hostKey}`,
      'PidFile none',
      `AuthorizedKeysFile ${authorizedKeys}`,
      `AllowUsers ${h.user}`,
      'PermitRootLogin no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'UseDNS no',
      'AllowTcpForwarding yes',
      'X11Forwarding no',
      'PrintMotd no',
      'PrintLastLog no',
      'MaxStartups 100:30:200',
      ...(sftp ? ['Subsystem sftp internal-sftp'] : []),
      ...Object.entries(setEnv).map(([k, v]) => `SetEnv ${k}=${v}`),
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
}

export interface SshdOptions {
  /** every host serves one unix user with one home (an NFS-shared home) */
  sharedUser?: boolean;
  /** false: no `Subsystem sftp` line, as on hosts whose sshd offers no SFTP */
  sftp?: boolean;
  /** environment every session gets (sshd's SetEnv), as a site's /etc/environment gives it (e.g. SLURM_CONF) */
  setEnv?: Record<string, string>;
}

export async function startSshd(count: number, opts: SshdOptions = {}): Promise<SshdCluster> {
  requireSetup();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-sshd-'));
  // Each host's user must reach its home and read authorized_keys.
  fs.chmodSync(dir, 0o755);
  const clientKey = path.join(dir, 'client_key');
  keygen(clientKey, 'petrel-test-client');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorizedKeys, fs.readFileSync(`${clientKey}.pub`));
  fs.chmodSync(authorizedKeys, 0o644);

  const tag = crypto.randomBytes(3).toString('hex');
  const hosts: SshdHost[] = [];
  const children = new Map<number, ChildProcess>();

  const launch = async (h: SshdHost, pickPort: boolean): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      if (pickPort) {
        do h.port = 2222 + crypto.randomInt(0, 2000);
        while (!(await portFree(h.ip, h.port)));
      }
      writeConfig(h, authorizedKeys, opts.sftp !== false, opts.setEnv);
      const child = spawn(SSHD, ['-D', '-f', h.config, '-E', h.log], { stdio: 'ignore' });
      child.on('error', () => undefined);
      try {
        await waitForBanner(h.ip, h.port, child, h.log);
        h.pid = child.pid!;
        children.set(h.index, child);
        return;
      } catch (err) {
        if (child.exitCode === null) child.kill('SIGKILL');
        const log = (err as { log?: string }).log ?? '';
        // Someone took the port between our check and sshd's bind: try another one.
        if (pickPort && attempt < 10 && /bind|in use/i.test(log)) continue;
        throw err;
      }
    }
  };

  const cluster: SshdCluster = {
    dir,
    clientKey,
    authorizedKeys,
    hosts,
    async kill(index) {
      const h = hosts[index]!;
      if (h.pid) await killAll([h.pid, ...descendants(h.pid)]);
      await killAll(cluster.userProcesses(index));
      h.pid = 0;
      children.delete(index);
    },
    async restart(index, opts = {}) {
      const h = hosts[index]!;
      if (h.pid) await cluster.kill(index);
      if (opts.newHostKey) keygen(h.hostKey, `host-${index}`);
      await launch(h, false);
    },
    userProcesses(index) {
      const h = hosts[index]!;
      const mine = processesOf(h.uid);
      return opts.sharedUser ? mine.filter((pid) => sshServerOf(pid) === `${h.ip} ${h.port}`) : mine;
    },
    async stop() {
      for (const h of hosts) await cluster.kill(h.index);
      // Whatever of a user is left (a shared user's processes from no known session) goes too.
      for (const uid of new Set(hosts.map((h) => h.uid))) await killAll(processesOf(uid));
      for (const user of new Set(hosts.map((h) => h.user))) await withPasswdLock('userdel', [user]).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    for (let i = 0; i < count; i++) {
      const shareWith = opts.sharedUser ? hosts[0] : undefined;
      const user = shareWith?.user ?? `pt${tag}h${i}`;
      const home = shareWith?.home ?? path.join(dir, `home-${i}`);
      let uid = shareWith?.uid ?? 0;
      if (!shareWith) {
        await withPasswdLock('useradd', ['-M', '-d', home, '-s', '/bin/bash', '-p', '*', user]);
        uid = Number(execFileSync('id', ['-u', user]).toString().trim());
        fs.mkdirSync(home, { mode: 0o700 });
        fs.chownSync(home, uid, Number(execFileSync('id', ['-g', user]).toString().trim()));
      }
      const h: SshdHost = {
        index: i,
        ip: `127.0.0.${i + 2}`,
        port: 0,
        user,
        uid,
        home,
        hostKey: path.join(dir, `host-${i}_ed25519`),
        config: path.join(dir, `sshd-${i}.conf`),
        log: path.join(dir, `sshd-${i}.log`),
        pid: 0,
      };
      hosts.push(h);
      keygen(h.hostKey, `host-${i}`);
      await launch(h, true);
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** A PETREL_HOME with config.yaml listing the hosts as one pool (per-host users). */
export function writePoolConfig(home: string, cluster: SshdCluster, pool = 'test', extra = ''): string {
  const lines = [
    'ssh_node_pools:',
    `  ${pool}:`,
    `    user: nobody-by-default`,
    `    identity_file: ${cluster.clientKey}`,
    '    hosts:',
    ...cluster.hosts.map((h) => `      - {ip: ${h.ip}, port: ${h.port}, user: ${h.user}}`),
    extra,
    '',
  ];
  fs.mkdirSync(home, { recursive: true });
  const file = path.join(home, 'config.yaml');
  fs.writeFileSync(file, lines.join('\n'));
  return file;
}

// A real Slurm 22.05 cluster for the Slurm provider tests: munged, slurmctld and N slurmd
// ("nodes" n1..nN, all on this host, each slurmd on its own port) under a scratch dir of the
// test file (see /work/shared/reference/test-infra.md, section 1, for how this was worked out).
//
// Isolation: each instance has its own munge key and socket, its own ClusterName (job
// processes carry it in SLURM_CLUSTER_NAME), its own ports and its own slurm.conf, which every
// client finds through SLURM_CONF. Two test files can therefore run clusters side by side.
//
// Differences from a production cluster, all chosen for tests:
//   - no slurmdbd: sacct says "Slurm accounting storage is disabled"; use squeue -t all or
//     scontrol show job (finished jobs stay for MinJobAge=300 s) or jobcomp.txt under base.
//   - accounts are checked by a tiny job_submit.lua instead of slurmdbd associations; it
//     rejects unknown -A values with the same error code (ESLURM_INVALID_ACCOUNT), so users
//     see Slurm's own message "Invalid account or account/partition combination specified".
//   - GPUs are fake character devices (see writeGres), so --gres=gpu:<type>:<n> schedules and
//     sets CUDA_VISIBLE_DEVICES, but there is no GPU behind them.
//   - KillWait=5 (default 30): a job that ignores SIGTERM is SIGKILLed 5 s after scancel.
//   - batch_sched_delay=0 (default 3 s): sbatch jobs start on the scheduler's next tick (~1 s).
//     The very first job still waits ~3 s: slurmctld's first scheduling pass comes that late.
//   - every daemon listens on 127.0.0.1 only, where the host name resolves there (see
//     resolvesToLoopback); clients always connect through 127.0.0.1.
//
// stop() cancels every job, stops the daemons by pid file, then SIGKILLs whatever of the
// instance is left (with a warning): slurmstepd, job processes that escaped their job (no
// cgroups here, proctrack/linuxproc only follows the process tree), srun clients.
//
// Needs root and Debian's slurm-wlm + munge (.ci/run installs them).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import dns from 'node:dns';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isZombie, markUnder, procIds, readProc, type ProcInfo } from './leftovers.js';

export interface SlurmCluster {
  /** ClusterName in slurm.conf, unique per instance (jobs see it as SLURM_CLUSTER_NAME) */
  name: string;
  /** scratch dir holding everything: conf, munge, state, logs (log/), job files (jobs/) */
  base: string;
  /** absolute path of slurm.conf */
  conf: string;
  /** what a process needs to use this cluster: { SLURM_CONF: conf } */
  env: Record<string, string>;
  /** node names, n1..nN */
  nodes: string[];
  /** accounts -A accepts (a job without -A is always accepted) */
  accounts: string[];
  /** bash -c with env applied, in `${base}/jobs` (where sbatch puts slurm-<id>.out) */
  sh(cmd: string, opts?: { timeoutMs?: number }): Promise<ShResult>;
  /** scontrol update nodename=<node> state=down reason=<reason>: its jobs are killed (and requeued unless --no-requeue) */
  nodeDown(node: string, reason?: string): Promise<void>;
  /** scontrol update nodename=<node> state=resume (see waitIdle) */
  nodeResume(node: string): Promise<void>;
  /** resolves once every node is plain "idle" (not drained, not "idle*" = not responding) */
  waitIdle(timeoutMs?: number): Promise<void>;
  /** cancels every job, stops the daemons and kills whatever of this instance is left; idempotent */
  stop(): Promise<void>;
}

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SlurmOptions {
  /** default 3 */
  nodes?: number;
  /** GPUs per node as gres gpu:<gpuType>:<n>; default 0 (no GresTypes at all) */
  gpusPerNode?: number;
  /** default T4 */
  gpuType?: string;
  /** accounts -A accepts; default ['default', 'research'] */
  accounts?: string[];
}

const DAEMONS = ['munged', 'slurmctld', 'slurmd'] as const;
const CLIENTS = ['sbatch', 'srun', 'squeue', 'sinfo', 'scontrol', 'scancel'] as const;
/** what a process of this instance can be called (comm, at most 15 chars) */
const SLURM_COMMS = new Set(['slurmctld', 'slurmscriptd', 'slurmd', 'slurmstepd', 'srun', 'sbatch', 'salloc', 'sattach', 'scancel', 'squeue', 'sinfo', 'scontrol', 'sstat']);
const NOT_INSTALLED = 'Slurm is not installed: apt-get install slurm-wlm munge';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Absolute path of a program, looking in /usr/sbin too (not on every PATH). */
function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin'];
  for (const dir of dirs) {
    const file = path.join(dir || '.', name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

function requireSlurm(): Record<(typeof DAEMONS)[number], string> {
  const found = Object.fromEntries(DAEMONS.map((d) => [d, which(d)]));
  if (DAEMONS.some((d) => !found[d]) || CLIENTS.some((c) => !which(c))) throw new Error(NOT_INSTALLED);
  return found as Record<(typeof DAEMONS)[number], string>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive free ports (slurmd ports must form a range in slurm.conf) in
 * 10000-30000, below the kernel's ephemeral range (32768+) where any outgoing connection could
 * take one before the daemon binds it (as test/support/petrel.ts does).
 */
async function freePortRange(count: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const first = 10000 + Math.floor(Math.random() * (20000 - count));
    let ok = true;
    for (let p = first; ok && p < first + count; p++) ok = await portFree(p);
    if (ok) return first;
  }
  throw new Error(`no ${count} consecutive free ports in 10000-30000`);
}

/** n[1-3], or n1 for a single node: Slurm's hostlist syntax. */
function range(prefix: string, first: number, last: number): string {
  return first === last ? `${prefix}${first}` : `${prefix}[${first}-${last}]`;
}

interface Layout {
  name: string;
  base: string;
  conf: string;
  host: string;
  nodes: number;
  ctldPort: number;
  slurmdPort: number;
  gpus: number;
  gpuType: string;
  accounts: string[];
  /** bind daemons (and srun) to the host name's address instead of every address */
  bindHostAddr: boolean;
}

function slurmConf(l: Layout): string {
  const b = l.base;
  const cpus = os.availableParallelism();
  // slurmd marks a node INVAL if it has less memory than configured.
  const memory = Math.min(4000, Math.floor((os.totalmem() / 1048576) * 0.9));
  const gres = l.gpus > 0 ? ` Gres=gpu:${l.gpuType}:${l.gpus}` : '';
  return [
    `ClusterName=${l.name}`,
    `SlurmctldHost=${l.host}(127.0.0.1)`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${b}/munge/munge.sock`,
    ...(l.bindHostAddr ? ['CommunicationParameters=NoCtldInAddrAny,NoInAddrAny'] : []),
    `SlurmctldPort=${l.ctldPort}`,
    `StateSaveLocation=${b}/state`,
    `SlurmdSpoolDir=${b}/spool/%n`,
    `SlurmctldPidFile=${b}/slurmctld.pid`,
    `SlurmdPidFile=${b}/slurmd-%n.pid`,
    `SlurmctldLogFile=${b}/log/slurmctld.log`,
    `SlurmdLogFile=${b}/log/slurmd-%n.log`,
    // No cgroups: portable, and nothing is left under /sys/fs/cgroup afterwards.
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'MpiDefault=none',
    'MailProg=/bin/true',
    'AccountingStorageType=accounting_storage/none',
    'JobAcctGatherType=jobacct_gather/none',
    'JobCompType=jobcomp/filetxt',
    `JobCompLoc=${b}/jobcomp.txt`,
    'JobSubmitPlugins=lua',
    'SchedulerType=sched/backfill',
    // Default 3: a new batch job then waits ~3 s instead of ~1 s (the scheduler's tick) to start.
    'SchedulerParameters=batch_sched_delay=0',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    // 1, not 2: with 2 an admin-DOWN node comes back by itself ~1 s later.
    'ReturnToService=1',
    'SlurmdTimeout=10',
    'MinJobAge=300',
    'KillWait=5',
    'PreemptType=preempt/partition_prio',
    'PreemptMode=REQUEUE',
    ...(l.gpus > 0 ? ['GresTypes=gpu'] : []),
    `NodeName=${range('n', 1, l.nodes)} NodeAddr=127.0.0.1 NodeHostname=${l.host} Port=${range('', l.slurmdPort, l.slurmdPort + l.nodes - 1)} CPUs=${cpus} RealMemory=${memory}${gres} State=UNKNOWN`,
    'PartitionName=low Nodes=ALL Default=YES DefaultTime=00:30:00 MaxTime=2-00:00:00 State=UP PriorityTier=1',
    'PartitionName=high Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=10',
    '',
  ].join('\n');
}

/**
 * gres.conf for fake GPUs. slurmd 22.05 drops a GPU without File= ("Removing file-less GPU
 * gpu:T4 from final GRES list", the node then registers 0 GPUs and goes INVAL), and logs
 * "<file> is not a valid character or block device" for a regular file (it still counts it).
 * Character devices made with mknod (1,3 = /dev/null's numbers) satisfy it quietly; with
 * task/none nothing ever opens them. All nodes share the same device files (same host).
 */
async function writeGres(l: Layout): Promise<void> {
  const dev = path.join(l.base, 'dev');
  fs.mkdirSync(dev, { mode: 0o755 });
  for (let i = 0; i < l.gpus; i++) {
    const r = await run('mknod', ['-m', '0666', path.join(dev, `gpu${i}`), 'c', '1', '3']);
    if (r.code !== 0) throw new Error(`mknod ${dev}/gpu${i} failed: ${r.stderr.trim()}`);
  }
  const files = l.gpus === 1 ? `${dev}/gpu0` : `${dev}/gpu[0-${l.gpus - 1}]`;
  fs.writeFileSync(path.join(l.base, 'gres.conf'), `NodeName=${range('n', 1, l.nodes)} Name=gpu Type=${l.gpuType} File=${files}\n`);
}

/**
 * An account whose jobs are made requeueable whatever they ask for, as a site's own
 * job_submit plugin may do (include it in `accounts` to use it).
 */
export const FORCED_REQUEUE_ACCOUNT = 'forced-requeue';

/** job_submit.lua (found next to slurm.conf): stands in for slurmdbd's association check, and forces requeue for FORCED_REQUEUE_ACCOUNT. */
function jobSubmitLua(accounts: string[]): string {
  const known = accounts.map((a) => `[${JSON.stringify(a)}] = true`).join(', ');
  return `local accounts = { ${known} }
function slurm_job_submit(job_desc, part_list, submit_uid)
  if job_desc.account ~= nil and not accounts[job_desc.account] then
    return slurm.ESLURM_INVALID_ACCOUNT
  end
  if job_desc.account == "${FORCED_REQUEUE_ACCOUNT}" then
    job_desc.requeue = 1
  end
  return slurm.SUCCESS
end
function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
  return slurm.SUCCESS
end
`;
}

async function writeFiles(l: Layout): Promise<void> {
  // munged insists on an owner-only key and a socket dir everyone may enter.
  fs.mkdirSync(path.join(l.base, 'munge'), { mode: 0o755 });
  fs.chmodSync(path.join(l.base, 'munge'), 0o755);
  fs.writeFileSync(path.join(l.base, 'munge', 'munge.key'), crypto.randomBytes(1024), { mode: 0o400 });
  for (const dir of ['state', 'log', 'jobs']) fs.mkdirSync(path.join(l.base, dir));
  // slurmd fails ("Domain socket directory ...") unless its spool dir exists.
  for (let i = 1; i <= l.nodes; i++) fs.mkdirSync(path.join(l.base, 'spool', `n${i}`), { recursive: true });
  fs.writeFileSync(l.conf, slurmConf(l));
  fs.writeFileSync(path.join(l.base, 'job_submit.lua'), jobSubmitLua(l.accounts));
  if (l.gpus > 0) await writeGres(l);
}

/** Runs a program to its end, collecting its output; never rejects. */
function run(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<ShResult> {
  return new Promise((resolve) => {
    // Own process group, so a timeout takes whatever it started along.
    const child = spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let settled = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code, stdout, stderr });
    };
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs ?? 60_000} ms]`;
      killGroup(child.pid);
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      stderr += String(err);
      finish(127);
    });
    child.on('close', (code, signal) => finish(exitCode(code, signal)));
    // A background process (`srun ... &`) keeps the pipes open after bash exits: do not wait for it.
    child.on('exit', (code, signal) => setTimeout(() => finish(exitCode(code, signal)), 300));
  });
}

/** as a shell reports it: 128 + signal number for a process killed by a signal */
function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : -1);
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Starts a daemon that forks itself into the background, and waits for its launcher to exit. */
function daemonize(file: string, args: string[], env: NodeJS.ProcessEnv, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // A file, not a pipe: the daemon may keep the launcher's stdio, and a pipe would never close.
    const fd = fs.openSync(out, 'a');
    const child = spawn(file, args, { env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(file)} ${args.join(' ')} exited ${code ?? signal}: ${tail(out, 5)}`));
    });
  });
}

function tail(file: string, lines: number): string {
  try {
    const text = fs.readFileSync(file, 'utf8').split('\n');
    // Harmless noise of Debian's build (no PMIx library) would hide the real lines.
    const useful = text.filter((l) => l.trim() !== '' && !/pmix|MPI: Cannot create context/.test(l));
    return useful.slice(-lines).join('\n');
  } catch {
    return '(no file)';
  }
}

function logTails(base: string, nodes: string[]): string {
  const files = ['slurmctld.log', ...nodes.map((n) => `slurmd-${n}.log`)];
  return files.map((f) => `--- ${f}:\n${tail(path.join(base, 'log', f), 6)}`).join('\n');
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, context: () => Promise<string> | string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${await context()}`);
    await sleep(100);
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  const p = readProc(pid);
  return p !== undefined && !isZombie(p);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

/** TERM, up to 5 s, then KILL: slurmd ignores TERM while it cannot reach slurmctld. */
async function stopByPidFile(file: string, owns: (p: ProcInfo) => boolean): Promise<void> {
  const pid = readPid(file);
  const p = pid === undefined ? undefined : readProc(pid);
  // A stale pid file may name some other process by now.
  if (!pid || !p || isZombie(p) || !owns(p)) return;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) signal(pid, 'SIGKILL');
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** This process and its ancestors: a test may have put SLURM_CONF into its own environment. */
function selfAndAncestors(): Set<number> {
  const out = new Set<number>();
  for (let pid = process.pid; pid > 1 && !out.has(pid); pid = readProc(pid)?.ppid ?? 1) out.add(pid);
  return out;
}

/**
 * Live processes of this instance: the daemons, slurmstepd and Slurm clients using its
 * slurm.conf, every job task (they carry SLURM_CLUSTER_NAME, even with --export=NONE), and
 * everything those started. Other programs that merely have SLURM_CONF (a Petrel worker the
 * test started) are left to their owners.
 */
function instanceProcesses(name: string, base: string, conf: string): ProcInfo[] {
  const all = new Map<number, ProcInfo>();
  for (const pid of procIds()) {
    const p = readProc(pid);
    if (p && !isZombie(p)) all.set(pid, p);
  }
  const roots = new Set<number>();
  for (const p of all.values()) {
    const slurmProgram = SLURM_COMMS.has(comm(p.pid)) && p.env.get('SLURM_CONF') === conf;
    const munged = comm(p.pid) === 'munged' && markUnder(p, base) !== undefined;
    if (slurmProgram || munged || p.env.get('SLURM_CLUSTER_NAME') === name) roots.add(p.pid);
  }
  const children = new Map<number, number[]>();
  for (const p of all.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const found = new Set<number>();
  const todo = [...roots];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    if (found.has(pid)) continue;
    found.add(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  const keep = selfAndAncestors();
  return [...found].filter((pid) => !keep.has(pid)).map((pid) => all.get(pid)!);
}

async function killInstanceProcesses(name: string, base: string, conf: string): Promise<void> {
  const deadline = Date.now() + 5000;
  const first = instanceProcesses(name, base, conf);
  // After scancel and the daemons' own shutdown nothing should be left: a job that escaped its
  // step (setsid + fork) or a client the test abandoned is worth knowing about.
  if (first.length > 0) console.warn(`Slurm cluster ${name}: SIGKILL ${first.length} process(es) left after the daemons stopped:\n${first.map((p) => `  ${p.pid} ${p.cmdline.slice(0, 200)}`).join('\n')}`);
  for (let left = first; left.length > 0; left = instanceProcesses(name, base, conf)) {
    if (Date.now() > deadline) {
      throw new Error(`Slurm cluster ${name}: still alive after SIGKILL:\n${left.map((p) => `  ${p.pid} ${p.cmdline.slice(0, 200)}`).join('\n')}`);
    }
    for (const p of left) signal(p.pid, 'SIGKILL');
    await sleep(50);
  }
}

class Cluster implements SlurmCluster {
  readonly env: Record<string, string>;
  readonly nodes: string[];
  private stopping: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly base: string,
    readonly conf: string,
    readonly accounts: string[],
    nodeCount: number,
  ) {
    this.env = { SLURM_CONF: conf };
    this.nodes = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  }

  private get fullEnv(): NodeJS.ProcessEnv {
    return { ...process.env, ...this.env };
  }

  sh(cmd: string, opts: { timeoutMs?: number } = {}): Promise<ShResult> {
    return run('bash', ['-c', cmd], { env: this.fullEnv, cwd: path.join(this.base, 'jobs'), timeoutMs: opts.timeoutMs });
  }

  private async scontrol(args: string[]): Promise<void> {
    const r = await run('scontrol', args, { env: this.fullEnv, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`scontrol ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  }

  nodeDown(node: string, reason = 'petrel test'): Promise<void> {
    return this.scontrol(['update', `nodename=${node}`, 'state=down', `reason=${reason}`]);
  }

  nodeResume(node: string): Promise<void> {
    return this.scontrol(['update', `nodename=${node}`, 'state=resume']);
  }

  /** node -> state as sinfo prints it (idle, idle*, drained, mixed, down*, ...) */
  private async nodeStates(): Promise<Map<string, string>> {
    // -N lists a node once per partition; `sinfo -t idle` would also count drained nodes.
    const r = await run('sinfo', ['-h', '-N', '-o', '%N %T'], { env: this.fullEnv, timeoutMs: 10_000 });
    const states = new Map<string, string>();
    if (r.code !== 0) return states;
    for (const line of r.stdout.trim().split('\n')) {
      const [node, state] = line.trim().split(/\s+/);
      if (node && state) states.set(node, state);
    }
    return states;
  }

  async waitIdle(timeoutMs = 30_000): Promise<void> {
    let last = new Map<string, string>();
    await waitUntil(
      `all of ${this.nodes.join(',')} to be idle`,
      async () => {
        last = await this.nodeStates();
        return this.nodes.every((n) => last.get(n) === 'idle');
      },
      timeoutMs,
      () => `node states: ${[...last].map(([n, s]) => `${n}=${s}`).join(' ') || '(sinfo failed)'}\n${logTails(this.base, this.nodes)}`,
    );
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async jobIds(): Promise<string[] | undefined> {
    const r = await run('squeue', ['-h', '-o', '%i'], { env: this.fullEnv, timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout.split('\n').filter((l) => l.trim() !== '') : undefined;
  }

  /** Cancels every job and waits (up to 15 s) until squeue shows none, COMPLETING included. */
  private async cancelJobs(): Promise<void> {
    const ids = await this.jobIds();
    if (!ids || ids.length === 0) return; // no jobs, or no slurmctld to ask
    await run('scancel', ids, { env: this.fullEnv, timeoutMs: 10_000 });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const left = await this.jobIds();
      if (!left || left.length === 0) return;
      await sleep(100);
    }
  }

  private async shutDown(): Promise<void> {
    await this.cancelJobs();
    const usesConf = (p: ProcInfo) => p.env.get('SLURM_CONF') === this.conf;
    // slurmd first: without slurmctld it would ignore TERM.
    await Promise.all(this.nodes.map((n) => stopByPidFile(path.join(this.base, `slurmd-${n}.pid`), usesConf)));
    await stopByPidFile(path.join(this.base, 'slurmctld.pid'), usesConf);
    await stopByPidFile(path.join(this.base, 'munge', 'munged.pid'), (p) => markUnder(p, this.base) !== undefined);
    // slurmstepd and job processes outlive slurmd; so do daemons whose pid file was never written.
    await killInstanceProcesses(this.name, this.base, this.conf);
  }

  async start(bins: Record<(typeof DAEMONS)[number], string>): Promise<void> {
    const b = this.base;
    await daemonize(
      bins.munged,
      [`--key-file=${b}/munge/munge.key`, `--socket=${b}/munge/munge.sock`, `--pid-file=${b}/munge/munged.pid`, `--log-file=${b}/munge/munged.log`, `--seed-file=${b}/munge/munged.seed`, '--num-threads=2'],
      process.env,
      path.join(b, 'log', 'munged.out'),
    );
    // -i: ignore (there is no) saved state.
    await daemonize(bins.slurmctld, ['-i'], this.fullEnv, path.join(b, 'log', 'slurmctld.out'));
    for (const n of this.nodes) await daemonize(bins.slurmd, ['-N', n], this.fullEnv, path.join(b, 'log', `slurmd-${n}.out`));
    await this.waitIdle(30_000);
  }
}

/**
 * Whether the host name resolves to loopback only. Then NoInAddrAny makes every daemon listen
 * on 127.0.0.1 alone; elsewhere (a CI container whose name resolves to its LAN address) those
 * options would bind that address while clients connect to 127.0.0.1, so the default
 * (listen on every address, connect through 127.0.0.1) is kept.
 */
async function resolvesToLoopback(host: string): Promise<boolean> {
  try {
    // Slurm resolves IPv4 only unless EnableIPv6 is set.
    const addrs = await dns.promises.lookup(host, { all: true, family: 4 });
    return addrs.length > 0 && addrs.every((a) => a.address.startsWith('127.'));
  } catch {
    return false;
  }
}

function checkOptions(nodes: number, gpus: number): void {
  if (!Number.isInteger(nodes) || nodes < 1) throw new Error(`startSlurm: nodes must be a positive integer, not ${nodes}`);
  if (!Number.isInteger(gpus) || gpus < 0) throw new Error(`startSlurm: gpusPerNode must be a non-negative integer, not ${gpus}`);
}

export async function startSlurm(opts: SlurmOptions = {}): Promise<SlurmCluster> {
  const bins = requireSlurm();
  const nodes = opts.nodes ?? 3;
  checkOptions(nodes, opts.gpusPerNode ?? 0);
  const host = os.hostname().split('.')[0]!;
  // os.tmpdir() is the test file's own dir under the run's root (test/support/file-scope.ts).
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-'));
  fs.chmodSync(base, 0o755);
  const first = await freePortRange(nodes + 1);
  const layout: Layout = {
    name: `t${crypto.randomBytes(4).toString('hex')}`,
    base,
    conf: path.join(base, 'slurm.conf'),
    host,
    nodes,
    ctldPort: first,
    slurmdPort: first + 1,
    gpus: opts.gpusPerNode ?? 0,
    gpuType: opts.gpuType ?? 'T4',
    accounts: opts.accounts ?? ['default', 'research'],
    bindHostAddr: await resolvesToLoopback(host),
  };
  await writeFiles(layout);
  const cluster = new Cluster(layout.name, base, layout.conf, layout.accounts, nodes);
  try {
    await cluster.start(bins);
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    throw err;
  }
  return cluster;
}

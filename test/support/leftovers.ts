// Which processes a test run started, found through /proc so that detached ones (their own
// session, re-parented to PID 1, running as an sshd test user) are found too.
//
// A run is marked two ways (test/support/global-setup.ts sets both up):
//   - PETREL_TEST_RUN=<id> in the environment, which every child inherits: test workers, the
//     CLI, the dev servers and workers it starts, sshd;
//   - a per-run temp root (TMPDIR points into it) holding every PETREL_HOME, sshd scratch dir
//     and test home. Whatever drops the environment still names that root somewhere: local
//     detached jobs (HOME=<node home under PETREL_HOME>, cwd there too), sshd sessions and SSH
//     jobs (their user's home lies under the sshd scratch dir), dev servers (--db-filename).
// So a process belongs to the run if its environ carries the marker, or its cwd, command line
// or any environment value lies under the root.
import fs from 'node:fs';
import path from 'node:path';

export const RUN_ID_ENV = 'PETREL_TEST_RUN';
export const RUN_ROOT_ENV = 'PETREL_TEST_ROOT';
/** the test file (relative to the repo) whose worker started a process, set per file */
export const TEST_FILE_ENV = 'PETREL_TEST_FILE';

export interface RunMarks {
  id: string;
  root: string;
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  uid: number;
  state: string;
  /** NUL-separated arguments joined by spaces */
  cmdline: string;
  cwd?: string;
  env: Map<string, string>;
}

export interface RunProcess extends ProcInfo {
  /** why it counts as the run's: which mark matched */
  reason: string;
  /** the test file or test home it belongs to, as far as it can be told */
  owner: string;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function procIds(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** What /proc tells about a process, or undefined if it is gone (or a kernel thread). */
export function readProc(pid: number): ProcInfo | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  const status = readText(`/proc/${pid}/status`);
  const rawCmd = readText(`/proc/${pid}/cmdline`);
  if (stat === undefined || status === undefined || rawCmd === undefined || rawCmd === '') return undefined;
  // fields after "(comm)": state ppid pgrp ...
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const env = new Map<string, string>();
  for (const entry of (readText(`/proc/${pid}/environ`) ?? '').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  let cwd: string | undefined;
  try {
    cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    cwd = undefined;
  }
  return {
    pid,
    state: fields[0]!,
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1),
    cmdline: rawCmd.replace(/\0+$/, '').split('\0').join(' '),
    cwd,
    env,
  };
}

export function isZombie(p: ProcInfo): boolean {
  return p.state === 'Z' || p.state === 'X';
}

/**
 * Whether `text` names `dir` or something under it: an occurrence not followed by a character
 * that would make it another name (/tmp/a-1 is not under /tmp/a). A deleted cwd reads
 * "<path> (deleted)".
 */
function mentions(text: string | undefined, dir: string): boolean {
  if (!text) return false;
  for (let at = text.indexOf(dir); at >= 0; at = text.indexOf(dir, at + 1)) {
    if (!/[A-Za-z0-9._-]/.test(text[at + dir.length] ?? '')) return true;
  }
  return false;
}

/** Which mark of `dir` a process carries, if any: its cwd, command line or an environment value. */
export function markUnder(p: ProcInfo, dir: string): string | undefined {
  if (mentions(p.cwd, dir)) return `cwd ${p.cwd}`;
  if (mentions(p.cmdline, dir)) return 'command line';
  for (const [key, value] of p.env) if (mentions(value, dir)) return `${key}=${value}`;
  return undefined;
}

/** The path under the run root that a process refers to, as "<file dir>/<home>". */
function ownerOf(p: ProcInfo, root: string): string {
  const file = p.env.get(TEST_FILE_ENV);
  const candidates = [p.env.get('PETREL_HOME'), p.cwd, p.env.get('HOME'), p.cmdline, ...p.env.values()];
  for (const c of candidates) {
    if (!c) continue;
    const at = c.indexOf(`${root}/`);
    if (at < 0) continue;
    const rel = c.slice(at + root.length + 1).split(/[\s:]/)[0]!;
    const where = rel.split('/').slice(0, 2).join('/');
    return file ? `${file} (${where})` : where;
  }
  return file ?? 'unknown';
}

/** The pids that are the test runner itself: this process, its ancestors, vitest's own workers. */
function runnerPids(all: Map<number, ProcInfo>): Set<number> {
  const out = new Set<number>();
  for (let pid = process.pid; pid > 1 && !out.has(pid); ) {
    out.add(pid);
    const p = all.get(pid) ?? readProc(pid);
    if (!p) break;
    pid = p.ppid;
  }
  // vitest's fork/thread workers are children of this process running its worker entry;
  // what they start is not exempt.
  for (const p of all.values()) {
    if (p.ppid === process.pid && /[/\\]vitest[/\\]dist[/\\]workers[/\\]/.test(p.cmdline)) out.add(p.pid);
  }
  return out;
}

/** Every live (non-zombie) process that carries a mark of this run, except the test runner itself. */
export function runProcesses(run: RunMarks): RunProcess[] {
  const all = new Map<number, ProcInfo>();
  for (const pid of procIds()) {
    const p = readProc(pid);
    if (p && !isZombie(p)) all.set(pid, p);
  }
  const runner = runnerPids(all);
  const out: RunProcess[] = [];
  for (const p of all.values()) {
    if (runner.has(p.pid)) continue;
    const reason = p.env.get(RUN_ID_ENV) === run.id ? `${RUN_ID_ENV}=${run.id}` : markUnder(p, run.root);
    if (reason) out.push({ ...p, reason, owner: ownerOf(p, run.root) });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

function userName(uid: number): string {
  const line = (readText('/etc/passwd') ?? '').split('\n').find((l) => l.split(':')[2] === String(uid));
  return line ? line.split(':')[0]! : `uid ${uid}`;
}

export function describeProcess(p: RunProcess): string {
  const cmd = p.cmdline.length > 300 ? `${p.cmdline.slice(0, 300)}...` : p.cmdline;
  return `  pid ${p.pid} (ppid ${p.ppid}, ${userName(p.uid)}) of ${p.owner} [${p.reason}]\n    ${cmd}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * SIGKILLs the processes and the process groups they lead, then keeps killing whatever of
 * the run is still there (children forked meanwhile) until nothing is, or `timeoutMs` passed.
 * Returns what was still alive at the end.
 */
export async function killRunProcesses(run: RunMarks, first: RunProcess[], timeoutMs = 10_000): Promise<RunProcess[]> {
  const deadline = Date.now() + timeoutMs;
  let left = first;
  while (left.length > 0) {
    for (const p of left) {
      if (p.pgid === p.pid) kill(-p.pid, 'SIGKILL');
      kill(p.pid, 'SIGKILL');
    }
    await sleep(100);
    left = runProcesses(run);
    if (Date.now() > deadline) break;
  }
  return left;
}

/**
 * The run's teardown check: waits up to `graceMs` for the run's processes to exit on their
 * own; if any remain, SIGKILLs them all (so even a failing run leaves nothing) and throws an
 * error listing each.
 */
export async function assertNoLeftovers(run: RunMarks, graceMs = 5_000): Promise<void> {
  const deadline = Date.now() + graceMs;
  let left = runProcesses(run);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(250);
    left = runProcesses(run);
  }
  if (left.length === 0) return;
  const survivors = await killRunProcesses(run, left);
  throw new Error(
    [
      `${left.length} process(es) started by this test run (${RUN_ID_ENV}=${run.id}, temp root ${run.root}) outlived it:`,
      ...left.map(describeProcess),
      survivors.length === 0 ? 'All of them have been SIGKILLed.' : `Still alive after SIGKILL:\n${survivors.map(describeProcess).join('\n')}`,
    ].join('\n'),
  );
}

// Detached jobs on a local node: a process group that outlives the worker that started it,
// with its output in a log file and its exit code in a file, so any later process can find,
// follow or signal it. The job directory is created with an exclusive mkdir: a second start
// of the same key attaches instead of running the job twice.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { shellQuote } from '../shell-quote.js';
import type { DetachedJobSpec, DetachedJobState, LogChunk } from '../types.js';
import { completeUtf8Length } from '../utf8.js';

const LOG = 'output.log';
const PID = 'pid';
const EXIT = 'exit_code';
const SCRIPT = 'script.sh';
/** How long a job dir without a pid file counts as "still starting". */
const START_GRACE_MS = 5000;

// The wrapper records its own pid first (so the pid exists whenever the job does), traps
// TERM so a cancelled job still records 143, and writes the exit code atomically.
function wrapperScript(dir: string, cwd: string): string {
  return [
    `cd ${shellQuote(dir)}`,
    'echo $$ > pid.tmp && mv pid.tmp pid',
    "trap 'petrel_signalled=1' TERM INT HUP",
    `(cd ${shellQuote(cwd)} && exec bash ${shellQuote(path.join(dir, SCRIPT))})`,
    'code=$?',
    'printf %s "$code" > exit_code.tmp && mv exit_code.tmp exit_code',
  ].join('\n');
}

export function jobDir(jobsRoot: string, key: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(key)) throw new Error(`invalid job key '${key}'`);
  return path.join(jobsRoot, key);
}

export async function startDetachedJob(
  jobsRoot: string,
  nodeHome: string,
  spec: DetachedJobSpec,
): Promise<{ alreadyStarted: boolean }> {
  const dir = jobDir(jobsRoot, spec.key);
  fs.mkdirSync(jobsRoot, { recursive: true });
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { alreadyStarted: true };
    throw err;
  }
  fs.writeFileSync(path.join(dir, SCRIPT), spec.script);
  const cwd = path.join(nodeHome, spec.cwd ?? '.');
  fs.mkdirSync(cwd, { recursive: true });
  const log = fs.openSync(path.join(dir, LOG), 'a');
  try {
    const child = spawn('bash', ['-c', wrapperScript(dir, cwd)], {
      detached: true,
      stdio: ['ignore', log, log],
      // The node's own home: ~/sky_workdir and ~/ file mounts are where the job looks for them.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: nodeHome, ...spec.env },
    });
    child.on('error', () => undefined);
    const pid = child.pid;
    if (pid !== undefined) {
      runningChildren.add(pid);
      child.once('exit', () => runningChildren.delete(pid));
    }
    child.unref();
  } finally {
    fs.closeSync(log);
  }
  return { alreadyStarted: false };
}

/**
 * Wrappers this process started that have not exited. Node reaps its children and says so,
 * so while one is in here it runs, and its pid cannot have been reused: no system call is
 * needed to know, which matters when ten thousand are asked about every second.
 */
const runningChildren = new Set<number>();

/** Whether `pid` is a wrapper this process started and that still runs. */
export function isRunningChild(pid: number): boolean {
  return runningChildren.has(pid);
}

export function detachedJobState(jobsRoot: string, key: string): DetachedJobState {
  const dir = jobDir(jobsRoot, key);
  const exit = readText(path.join(dir, EXIT));
  if (exit !== undefined) return { state: 'exited', exitCode: Number.parseInt(exit, 10) };
  const pid = readPid(dir);
  // The wrapper writes the exit code before it exits, so a dead wrapper without one was killed.
  if (pid !== undefined) return leaderAlive(dir, pid) ? { state: 'running' } : { state: 'lost' };
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    return { state: 'unknown' };
  }
  return Date.now() - stat.mtimeMs < START_GRACE_MS ? { state: 'running' } : { state: 'lost' };
}

export function readJobLog(jobsRoot: string, key: string, offset: number, maxBytes = 1 << 20): LogChunk {
  const file = path.join(jobDir(jobsRoot, key), LOG);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return { data: '', nextOffset: offset };
  }
  try {
    const buf = Buffer.alloc(maxBytes);
    const n = fs.readSync(fd, buf, 0, maxBytes, offset);
    const end = completeUtf8Length(buf, n);
    return { data: buf.subarray(0, end).toString('utf8'), nextOffset: offset + end };
  } finally {
    fs.closeSync(fd);
  }
}

export function signalDetachedJob(jobsRoot: string, key: string, signal: NodeJS.Signals): void {
  const pgid = ownGroup(jobDir(jobsRoot, key));
  if (pgid !== undefined) killGroup(pgid, signal);
}

/** Every job on a node: used to stop or reclaim the whole node. */
export function killAllJobs(jobsRoot: string, signal: NodeJS.Signals): void {
  let keys: string[];
  try {
    keys = fs.readdirSync(jobsRoot);
  } catch {
    return;
  }
  for (const key of keys) {
    const pgid = ownGroup(path.join(jobsRoot, key));
    if (pgid !== undefined) killGroup(pgid, signal);
  }
}

/** Clock ticks of /proc/<pid>/stat's start time (USER_HZ is 100 on Linux). */
const TICKS_PER_SECOND = 100;
const HAS_PROC = fs.existsSync('/proc/self/stat');

interface Leader {
  state: string;
  /** whether this process is the job's wrapper: leads its own group, started when the pid was written */
  isTheJobs: boolean;
}

/**
 * The process the job's pid file names, as it is now. Pids are reused (pid_max can be as low
 * as 32768), so a pid only counts as the job's wrapper if it leads its own process group and
 * started when the job recorded it.
 */
function leaderOf(dir: string, pid: number): Leader | undefined {
  const fields = procStat(pid);
  if (!fields) return undefined;
  const startedMs = bootTimeMs() + (Number(fields[19]) / TICKS_PER_SECOND) * 1000;
  let recordedMs: number;
  try {
    recordedMs = fs.statSync(path.join(dir, PID)).mtimeMs;
  } catch {
    return undefined;
  }
  return { state: fields[0]!, isTheJobs: Number(fields[2]) === pid && Math.abs(startedMs - recordedMs) < 10_000 };
}

/**
 * The job's process group, if it may still be this job's: a job with an exit code is never
 * signalled (its pid may lead someone else's group by now). A leader that is gone leaves a
 * group id nobody else can take while any member lives, so signalling it reaches only the
 * job's own orphans.
 */
function ownGroup(dir: string): number | undefined {
  if (fs.existsSync(path.join(dir, EXIT))) return undefined;
  const pid = readPid(dir);
  if (pid === undefined || !HAS_PROC) return pid;
  const leader = leaderOf(dir, pid);
  return !leader || leader.isTheJobs ? pid : undefined;
}

/** /proc/<pid>/stat after the command name: [0] state, [1] parent pid, [2] process group, …; undefined without such a process. */
function procStat(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

let bootMs: number | undefined;
function bootTimeMs(): number {
  bootMs ??= Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))![1]) * 1000;
  return bootMs;
}

/**
 * Whether the job's wrapper (its process-group leader) still runs. A killed process can
 * linger as a zombie until its parent reaps it — for orphans that is PID 1, which in some
 * containers reaps slowly — so on Linux a zombie counts as dead.
 */
export function leaderAlive(dir: string, pid: number): boolean {
  if (!HAS_PROC) return groupAlive(pid);
  const leader = leaderOf(dir, pid);
  return !!leader && leader.isTheJobs && leader.state !== 'Z' && leader.state !== 'X';
}

export function groupAlive(pgid: number): boolean {
  return processExists(-pgid);
}

/** Whether kill(target, 0) finds a process (or, negative, a process group); a zombie counts. */
export function processExists(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

export function readPid(dir: string): number | undefined {
  const text = readText(path.join(dir, PID));
  const pid = text === undefined ? NaN : Number.parseInt(text, 10);
  return Number.isFinite(pid) && pid > 1 ? pid : undefined;
}

function readText(file: string): string | undefined {
  // Checked first: a thrown ENOENT costs far more than a stat when a thousand jobs are polled.
  if (!fs.existsSync(file)) return undefined;
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

// SSH connections to nodes: one shared connection per (user, host, port, key, known_hosts),
// reused by every runner in the process, with errors a user can act on.
//
// Lifetime: a connection is "busy" while some operation holds a lease on it and "idle"
// otherwise. An idle connection does not keep the process alive (its socket is unref'd) and is
// closed after `idleMs` (30 s by default), so the CLI exits as soon as its work is done while a
// worker polling every second keeps reusing one connection per node.
//
// Liveness without timers that would keep the process alive: TCP keepalive on the socket, a
// deadline on every channel open (a connection that does not answer is dropped and the
// operation retried once on a fresh one, which is safe because nothing was started), and
// deadlines on the provider's own short operations. (ssh2's keepaliveInterval would be a
// ref'd setInterval that keeps even an idle CLI process from exiting, so it stays off.)
import fs from 'node:fs';
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Client as SshClient, ClientChannel, SFTPWrapper } from 'ssh2';
import { ProviderError } from '../types.js';
import { verifyHostKey } from './known-hosts.js';
import { proxyCommandStream, type ProxyCommandStream } from './proxy-command.js';

// ssh2 takes ~40 ms to load: only commands that really talk to a node pay for it.
let ssh2Module: Promise<typeof import('ssh2')> | undefined;
async function ssh2(): Promise<typeof import('ssh2')> {
  ssh2Module ??= import('ssh2').then((m) => (m as unknown as { default: typeof import('ssh2') }).default ?? m);
  return ssh2Module;
}

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** absolute path of the private key on this machine */
  identityFile: string;
  /** bastion to tunnel through (authenticates with the same identity file) */
  proxyJump?: SshTarget;
  /** where the user sets user and identity_file, for messages (default: the pool) */
  settingsAt?: string;
  /** ssh_config's ProxyCommand (tokens expanded): its stdin/stdout is the connection, instead of TCP or proxyJump */
  proxyCommand?: string;
}

export interface ConnectPolicy {
  /** budget for TCP connect plus SSH handshake, per attempt */
  connectTimeoutMs: number;
  attempts: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/** For real work: ride out a restarting sshd or a short network blip. */
export const PATIENT: ConnectPolicy = { connectTimeoutMs: 10_000, attempts: 5, backoffMs: 250, maxBackoffMs: 4_000 };
/** For "does it answer?" questions (check, query, terminate): a few seconds at most. */
export const QUICK: ConnectPolicy = { connectTimeoutMs: 3_000, attempts: 2, backoffMs: 250, maxBackoffMs: 500 };

export interface ConnectContext {
  knownHostsFile: string;
  policy?: ConnectPolicy;
}

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  /** the command hit `timeoutMs` and was abandoned */
  timedOut: boolean;
}

/** Where a streaming stdin writer puts its bytes; every write resolves once the channel takes more. */
export interface StdinSink {
  write(chunk: Buffer): Promise<void>;
  /** resolves when the channel has closed (the command ended, or was abandoned) */
  readonly closed: Promise<void>;
}

export interface ExecOptions {
  /** text or bytes, or a writer that streams stdin (awaiting every write) and resolves when done */
  stdin?: string | Buffer | ((sink: StdinSink) => Promise<void>);
  timeoutMs?: number;
  /** abandon the command, as for timeoutMs, once nothing moved (no output, no stdin taken) for this long */
  idleTimeoutMs?: number;
  /**
   * stdout as it comes (then it is not collected in the result); a returned promise pauses the
   * channel until it settles, so a slow consumer holds the sender back instead of piling up here
   */
  onStdout?: (chunk: Buffer) => void | Promise<void>;
  /** on timeout: resolve with timedOut (the caller reports it) or drop the connection and throw */
  onTimeout?: 'resolve' | 'fail';
}

const CHANNEL_OPEN_TIMEOUT_MS = 20_000;
/**
 * OpenSSH's MaxSessions defaults to 10 sessions per connection, and the server frees one a
 * little after we see it close: stay well below.
 */
const MAX_CHANNELS = 6;
const CHANNEL_REFUSED_RETRIES = 8;
/** A server found without SFTP is asked again after this long (its sshd_config may have been fixed). */
const NO_SFTP_RECHECK_MS = 10 * 60_000;
const MAX_OUTPUT_BYTES = 64 << 20;
const TCP_KEEPALIVE_MS = 15_000;
const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);

export function label(t: { host: string; port: number }): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/** The connection went away before the operation started; retrying on a new one is safe. */
export class StaleConnectionError extends ProviderError {
  constructor(message: string) {
    super('transient', message);
    this.name = 'StaleConnectionError';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A streaming stdin write found the channel already closed. */
class ChannelGone extends Error {
  constructor() {
    super('the channel closed');
  }
}

/** The server said no to a channel on a connection that is otherwise fine. */
class ChannelRefused extends Error {}

/**
 * The session channel opened, but the server refused the subsystem asked for on it (an sshd
 * without `Subsystem sftp ...` answers the request with a failure; ssh2 reports "Unable to
 * start subsystem: sftp"), or the subsystem's program died at once. Asking again cannot help.
 */
class SubsystemRefused extends Error {}

function isSubsystemFailure(err: Error): boolean {
  return /^Unable to start subsystem|while establishing SFTP session|unexpected SFTP session termination/.test(err.message);
}

/** The server has no (working) SFTP subsystem; file transfers then go over exec channels. */
export class NoSftpSubsystemError extends ProviderError {
  constructor(target: { host: string; port: number }, detail: string) {
    super('config', `${label(target)} has no SFTP subsystem (its sshd refused the 'sftp' subsystem: ${detail}); add 'Subsystem sftp internal-sftp' to its sshd_config to use SFTP`);
    this.name = 'NoSftpSubsystemError';
  }
}

interface NoSftp {
  at: number;
  detail: string;
}

interface ChannelTable {
  add(value: unknown): number;
  get(id: number): unknown;
}

/**
 * Runs `open` (one ssh2 call that opens a channel) and records in `tracked` the local id ssh2
 * gave that channel. ssh2 leaves a session channel open when the server refuses the request
 * made on it (exec, subsystem): the server counts it against MaxSessions until it is closed,
 * so `closeRefusedChannel` closes it. Uses ssh2 internals; without them nothing is tracked.
 */
function trackChannel(client: SshClient, tracked: { id: number }, open: () => void): void {
  const table = (client as unknown as { _chanMgr?: ChannelTable })._chanMgr;
  if (!table || typeof table.add !== 'function' || typeof table.get !== 'function') {
    open();
    return;
  }
  const own = Object.prototype.hasOwnProperty.call(table, 'add');
  const add = table.add;
  table.add = function (this: ChannelTable, value: unknown): number {
    const id = add.call(this, value);
    if (tracked.id === -1) tracked.id = id;
    return id;
  };
  try {
    open();
  } finally {
    if (own) table.add = add;
    else delete (table as Partial<ChannelTable>).add;
  }
}

function closeRefusedChannel(client: SshClient, id: number): void {
  if (id < 0) return;
  try {
    const ch = (client as unknown as { _chanMgr?: ChannelTable })._chanMgr?.get(id) as { outgoing?: { state?: string } } | undefined;
    if (ch && typeof ch === 'object' && ch.outgoing?.state === 'open') closeChannel(ch);
  } catch {
    // best effort: the channel goes when the connection does
  }
}

/** Closes an exec/tunnel channel or an SFTP session (whose close(handle) is a file operation). */
function closeChannel(ch: unknown): void {
  const c = ch as { close?: () => void; destroy?: () => void; readdir?: unknown } | undefined;
  try {
    if (typeof c?.readdir === 'function') c.destroy?.();
    else c?.close?.();
  } catch {
    // best effort
  }
}

// ---- identity -------------------------------------------------------------------------------

/** Reads the private key, refusing one that other users can read (as ssh itself does). */
export async function loadIdentity(file: string): Promise<Buffer> {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ProviderError('config', `identity_file ${file} does not exist`);
    throw new ProviderError('config', `identity_file ${file} cannot be read (${code ?? (err as Error).message})`);
  }
  if (!st.isFile()) throw new ProviderError('config', `identity_file ${file} is not a file`);
  const mode = st.mode & 0o777;
  if (mode & 0o077) {
    throw new ProviderError(
      'config',
      `identity_file ${file} is readable by others (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${file}`,
    );
  }
  let key: Buffer;
  try {
    key = fs.readFileSync(file);
  } catch (err) {
    throw new ProviderError('config', `identity_file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const parsed = (await ssh2()).utils.parseKey(key);
  if (parsed instanceof Error) {
    const why = /passphrase/i.test(parsed.message)
      ? 'it is protected by a passphrase; Petrel needs a key without one'
      : `it is not a private key Petrel can use (${parsed.message})`;
    throw new ProviderError('config', `identity_file ${file}: ${why}`);
  }
  return key;
}

// ---- one connection -----------------------------------------------------------------------

interface Sock {
  ref?(): unknown;
  unref?(): unknown;
}

export class Connection {
  private leases = 0;
  /** other connections tunnelled through this one */
  private pins = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private freeChannels = MAX_CHANNELS;
  private readonly waiting: Array<() => void> = [];
  private sftpSession: Promise<SFTPWrapper> | undefined;
  /** the server refused the SFTP subsystem on this connection (asked again after NO_SFTP_RECHECK_MS) */
  private noSftp: NoSftp | undefined;
  /** the pool's memory of it for this target, so a new connection does not ask again */
  private sftpMemo: { get(): NoSftp | undefined; set(v: NoSftp | undefined): void } | undefined;
  private closed = false;
  private viaHeld = false;
  private readonly onCloseHandlers: Array<() => void> = [];

  constructor(
    readonly key: string,
    readonly target: SshTarget,
    readonly client: SshClient,
    private readonly sock: Sock,
    private readonly idleMs: number,
    /** the bastion connection this one is tunnelled through */
    private readonly via?: Connection,
  ) {
    client.on('close', () => this.markClosed());
    client.on('end', () => this.markClosed());
    client.on('error', () => this.markClosed());
    via?.pin();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.onCloseHandlers.push(fn);
  }

  acquire(): void {
    this.leases++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.leases === 1 && !this.closed) {
      this.sock.ref?.();
      this.holdVia(true);
    }
  }

  release(): void {
    this.leases = Math.max(0, this.leases - 1);
    if (this.leases > 0 || this.closed) return;
    this.sock.unref?.();
    this.holdVia(false);
    this.scheduleIdleClose();
  }

  /** While this connection is busy, so is the bastion it is tunnelled through. */
  private holdVia(hold: boolean): void {
    if (!this.via || this.viaHeld === hold) return;
    this.viaHeld = hold;
    if (hold) this.via.acquire();
    else this.via.release();
  }

  private pin(): void {
    this.pins++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private unpin(): void {
    this.pins = Math.max(0, this.pins - 1);
    if (this.leases === 0) this.scheduleIdleClose();
  }

  private scheduleIdleClose(): void {
    if (this.closed || this.leases > 0 || this.pins > 0) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.close(), this.idleMs);
    this.idleTimer.unref();
  }

  close(): void {
    if (this.closed) return;
    this.markClosed();
    this.client.end();
  }

  /** Drops a connection that stopped answering; everything running on it fails. */
  destroy(): void {
    if (this.closed) return;
    this.markClosed();
    this.client.destroy();
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.sock.unref?.();
    this.sftpSession = undefined;
    for (const w of this.waiting.splice(0)) w();
    for (const fn of this.onCloseHandlers.splice(0)) fn();
    this.holdVia(false);
    this.via?.unpin();
  }

  private async channelSlot(): Promise<() => void> {
    while (this.freeChannels === 0 && !this.closed) await new Promise<void>((r) => this.waiting.push(r));
    if (this.closed) throw new StaleConnectionError(`the connection to ${label(this.target)} was closed`);
    this.freeChannels--;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.freeChannels++;
      this.waiting.shift()?.();
    };
  }

  /**
   * Opens a channel with `open`. `open` receives ssh2's callback; `onOpen` runs synchronously
   * inside it, because ssh2 may emit a short command's exit and close events in the same tick,
   * before a promise continuation could attach listeners.
   *
   * A server that refuses a channel on a live connection is usually at its per-connection
   * session limit (OpenSSH's MaxSessions counts a session until it has processed our close,
   * which lags behind our own bookkeeping): wait a little and ask again on the same
   * connection. Only a connection that does not answer at all is stale.
   */
  private async openChannel<C>(what: string, open: (cb: (err: Error | undefined, ch: C) => void) => void, onOpen?: (ch: C) => void): Promise<C> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.openChannelOnce(what, open, onOpen);
      } catch (err) {
        if (!(err instanceof ChannelRefused)) throw err;
        if (attempt >= CHANNEL_REFUSED_RETRIES) {
          throw new ProviderError(
            'transient',
            `${label(this.target)} refused to open ${what} (${err.message}); does its sshd allow only a few sessions per connection (MaxSessions)?`,
          );
        }
        await sleep(Math.min(1000, 25 * 2 ** attempt));
      }
    }
  }

  private openChannelOnce<C>(what: string, open: (cb: (err: Error | undefined, ch: C) => void) => void, onOpen?: (ch: C) => void): Promise<C> {
    return new Promise<C>((resolve, reject) => {
      if (this.closed) {
        reject(new StaleConnectionError(`the connection to ${label(this.target)} was closed`));
        return;
      }
      let done = false;
      const tracked = { id: -1 };
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        this.destroy();
        reject(new StaleConnectionError(`${label(this.target)} did not answer (opening ${what} took over ${CHANNEL_OPEN_TIMEOUT_MS / 1000}s)`));
      }, CHANNEL_OPEN_TIMEOUT_MS);
      try {
        trackChannel(this.client, tracked, () =>
          open((err, ch) => {
            clearTimeout(timer);
            if (done) {
              closeChannel(ch);
              return;
            }
            done = true;
            if (err) {
              // A refused channel open carries the server's reason code; anything else was
              // refused on a channel that opened, and that channel is still open.
              if (typeof (err as { reason?: unknown }).reason !== 'number') closeRefusedChannel(this.client, tracked.id);
              if (this.closed) reject(new StaleConnectionError(`cannot open ${what} on ${label(this.target)}: ${err.message}`));
              else if (isSubsystemFailure(err)) reject(new SubsystemRefused(err.message));
              else reject(new ChannelRefused(err.message));
              return;
            }
            onOpen?.(ch);
            resolve(ch);
          }),
        );
      } catch (err) {
        clearTimeout(timer);
        done = true;
        this.markClosed();
        reject(new StaleConnectionError(`the connection to ${label(this.target)} was closed (${(err as Error).message})`));
      }
    });
  }

  /** Runs `command` through the login shell (which starts in the remote home directory). */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const free = await this.channelSlot();
    let result: Promise<ExecResult> | undefined;
    try {
      await this.openChannel<ClientChannel>('a session', (cb) => this.client.exec(command, cb), (ch) => {
        result = this.collect(ch, opts, free);
      });
    } catch (err) {
      free();
      throw err;
    }
    return result!;
  }

  private collect(ch: ClientChannel, opts: ExecOptions, free: () => void): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let size = 0;
      let exitCode: number | undefined;
      /** why the command was abandoned: its whole deadline, or nothing moving for idleTimeoutMs */
      let timedOut: 'total' | 'idle' | undefined;
      let timer: NodeJS.Timeout | undefined;
      let idleTimer: NodeJS.Timeout | undefined;
      let closed = false;
      let stdinError: Error | undefined;
      const abandon = (why: 'total' | 'idle') => {
        if (closed || timedOut) return;
        timedOut = why;
        try {
          ch.signal('KILL');
        } catch {
          // best effort
        }
        ch.close();
        // A connection that cannot even close a channel is dead.
        if (opts.onTimeout === 'fail') this.destroy();
      };
      const progress = () => {
        if (!opts.idleTimeoutMs || closed || timedOut) return;
        if (idleTimer) idleTimer.refresh();
        else idleTimer = setTimeout(() => abandon('idle'), opts.idleTimeoutMs);
      };
      const keep = (list: Buffer[]) => (d: Buffer) => {
        progress();
        if (size >= MAX_OUTPUT_BYTES) return;
        size += d.length;
        list.push(d);
      };
      const onStdout = opts.onStdout;
      ch.on(
        'data',
        onStdout
          ? (d: Buffer) => {
              progress();
              const wait = onStdout(d);
              if (wait) {
                ch.pause();
                wait.then(
                  () => ch.resume(),
                  () => ch.resume(),
                );
              }
            }
          : keep(out),
      );
      let markClosed: () => void = () => undefined;
      const closedPromise = new Promise<void>((res) => (markClosed = res));
      ch.stderr.on('data', keep(errOut));
      ch.on('exit', (code: number | null, signal?: string) => {
        if (typeof code === 'number') exitCode = code;
        else exitCode = 128 + (signal ? signalNumber(signal) : 0);
      });
      ch.on('error', () => undefined);
      ch.on('close', () => {
        closed = true;
        markClosed();
        if (timer) clearTimeout(timer);
        if (idleTimer) clearTimeout(idleTimer);
        free();
        const stdout = Buffer.concat(out);
        const stderr = Buffer.concat(errOut);
        if (timedOut) {
          if (opts.onTimeout === 'fail') {
            reject(
              new ProviderError(
                'transient',
                timedOut === 'idle'
                  ? `${label(this.target)} made no progress on a command for ${Math.round((opts.idleTimeoutMs ?? 0) / 1000)}s`
                  : `${label(this.target)} did not finish a command within ${Math.round((opts.timeoutMs ?? 0) / 1000)}s`,
              ),
            );
          } else {
            resolve({ exitCode: 124, stdout, stderr, timedOut: true });
          }
          return;
        }
        if (stdinError) {
          reject(stdinError);
          return;
        }
        if (exitCode === undefined) {
          reject(new ProviderError('transient', `lost the connection to ${label(this.target)} while a command was running`));
          return;
        }
        resolve({ exitCode, stdout, stderr, timedOut: false });
      });
      if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
        timer = setTimeout(() => abandon('total'), opts.timeoutMs);
      }
      progress();
      const stdin = opts.stdin;
      if (typeof stdin === 'function') {
        const stopped = () => closed || timedOut !== undefined || stdinError !== undefined;
        const sink: StdinSink = {
          closed: closedPromise,
          write: (chunk) =>
            new Promise<void>((res, rej) => {
              if (stopped()) {
                rej(new ChannelGone());
                return;
              }
              if (ch.write(chunk)) {
                progress();
                res();
                return;
              }
              const onDrain = () => {
                off();
                progress();
                res();
              };
              const onClose = () => {
                off();
                rej(new ChannelGone());
              };
              const off = () => {
                ch.off('drain', onDrain);
                ch.off('close', onClose);
              };
              ch.on('drain', onDrain);
              ch.on('close', onClose);
            }),
        };
        stdin(sink).then(
          () => {
            if (!stopped()) ch.end();
          },
          (err: Error) => {
            // The command went away first: its exit code and stderr tell why.
            if (stopped() || err instanceof ChannelGone) return;
            stdinError = err;
            try {
              ch.signal('KILL');
            } catch {
              // best effort
            }
            ch.close();
          },
        );
      } else if (stdin !== undefined) ch.end(stdin);
      else ch.end();
    });
  }

  /** The pool keeps what it learnt about SFTP on this target across connections. */
  useSftpMemo(memo: { get(): NoSftp | undefined; set(v: NoSftp | undefined): void }): void {
    this.sftpMemo = memo;
  }

  /** Set when the server refused the SFTP subsystem, until it is time to ask again. */
  private knownNoSftp(): NoSftp | undefined {
    const n = this.noSftp ?? this.sftpMemo?.get();
    if (n && Date.now() - n.at < NO_SFTP_RECHECK_MS) return n;
    this.noSftp = undefined;
    if (n) this.sftpMemo?.set(undefined);
    return undefined;
  }

  /**
   * The connection's SFTP session, or undefined when the server has no SFTP subsystem (then
   * callers transfer over exec channels). The server is asked once per connection, and the
   * pool remembers the answer for the target for NO_SFTP_RECHECK_MS.
   */
  async sftpIfAvailable(): Promise<SFTPWrapper | undefined> {
    try {
      return await this.sftp();
    } catch (err) {
      if (err instanceof NoSftpSubsystemError) return undefined;
      throw err;
    }
  }

  /** One SFTP session per connection, shared by everything that needs it. Rejects with NoSftpSubsystemError on a server without SFTP. */
  sftp(): Promise<SFTPWrapper> {
    if (this.closed) return Promise.reject(new StaleConnectionError(`the connection to ${label(this.target)} was closed`));
    const missing = this.knownNoSftp();
    if (missing) return Promise.reject(new NoSftpSubsystemError(this.target, missing.detail));
    if (!this.sftpSession) {
      const holder: { session?: Promise<SFTPWrapper> } = {};
      const forget = () => {
        if (this.sftpSession === holder.session) this.sftpSession = undefined;
      };
      holder.session = (async () => {
        const free = await this.channelSlot();
        try {
          const s = await this.openChannel<SFTPWrapper>('an SFTP session', (cb) => this.client.sftp(cb));
          s.on('close', () => {
            free();
            forget();
          });
          s.on('error', () => undefined);
          return s;
        } catch (err) {
          free();
          forget();
          if (err instanceof SubsystemRefused) {
            this.noSftp = { at: Date.now(), detail: err.message };
            this.sftpMemo?.set(this.noSftp);
            throw new NoSftpSubsystemError(this.target, err.message);
          }
          throw err;
        }
      })();
      this.sftpSession = holder.session;
    }
    return this.sftpSession;
  }

  /** A TCP stream to host:port opened by the server (for a tunnelled connection). */
  async forward(host: string, port: number): Promise<ClientChannel> {
    const free = await this.channelSlot();
    try {
      const ch = await this.openChannel<ClientChannel>(`a tunnel to ${label({ host, port })}`, (cb) =>
        this.client.forwardOut('127.0.0.1', 0, host, port, cb),
      );
      ch.on('close', free);
      return ch;
    } catch (err) {
      free();
      throw err;
    }
  }
}

function signalNumber(name: string): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[name.startsWith('SIG') ? name : `SIG${name}`];
  return n ?? 0;
}

// ---- connecting -----------------------------------------------------------------------------

interface Failure {
  retryable: boolean;
  error: ProviderError;
  reason: string;
}

function describeCode(code: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ETIMEDOUT':
      return 'timed out';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
      return 'no route to host';
    case 'ENETUNREACH':
      return 'network unreachable';
    default:
      return code.toLowerCase();
  }
}

function classify(err: unknown, target: SshTarget, hostKeyProblem: string | undefined): Failure {
  if (err instanceof ProviderError) {
    // Already final (the bastion's own failure, or a refused tunnel mapped below).
    return { retryable: err instanceof StaleConnectionError, error: err, reason: err.message };
  }
  const e = err as Error & { code?: string; level?: string };
  if (hostKeyProblem) return { retryable: false, error: new ProviderError('config', hostKeyProblem), reason: hostKeyProblem };
  if (e.level === 'client-authentication') {
    const msg =
      `permission denied for ${target.user}@${label(target)} with identity_file ${target.identityFile} ` +
      `(the server did not accept the key); put its public key in ~${target.user}/.ssh/authorized_keys on the node, ` +
      `or fix user/identity_file in ${target.settingsAt ?? 'the pool'}`;
    return { retryable: false, error: new ProviderError('config', msg), reason: msg };
  }
  if (e.code === 'ENOTFOUND' || e.level === 'client-dns') {
    const msg = `cannot resolve host name '${target.host}'`;
    return { retryable: false, error: new ProviderError('config', msg), reason: msg };
  }
  if (e.code && RETRYABLE_CODES.has(e.code)) {
    const reason = `${describeCode(e.code)} (${e.code})`;
    return { retryable: true, error: new ProviderError('transient', reason), reason };
  }
  if (e.code === 'EAI_AGAIN') return { retryable: true, error: new ProviderError('transient', 'DNS lookup failed'), reason: 'DNS lookup failed (EAI_AGAIN)' };
  if (e.level === 'client-timeout' || /handshake|connection lost/i.test(e.message)) {
    const reason = `no SSH handshake (${e.message})`;
    return { retryable: true, error: new ProviderError('transient', reason), reason };
  }
  const reason = e.message || String(err);
  return { retryable: false, error: new ProviderError('transient', reason), reason };
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(Object.assign(new Error(`connect to ${host}:${port} timed out`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      // ssh2 reports socket errors itself from here on; this only keeps a late one from crashing us.
      sock.on('error', () => undefined);
      resolve(sock);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    });
  });
}

// ---- the pool -------------------------------------------------------------------------------

export interface PoolOptions {
  idleMs?: number;
}

export class SshPool {
  private readonly conns = new Map<string, Connection>();
  private readonly pending = new Map<string, Promise<Connection>>();
  /** targets whose server has no SFTP subsystem (see Connection.sftpIfAvailable) */
  private readonly noSftp = new Map<string, NoSftp>();
  /** SSH connections this pool has established (handshake completed), for tests and metrics */
  connectsTotal = 0;
  readonly idleMs: number;

  constructor(opts: PoolOptions = {}) {
    this.idleMs = opts.idleMs ?? 30_000;
  }

  /** Connections currently open. */
  get size(): number {
    return [...this.conns.values()].filter((c) => c.isOpen).length;
  }

  static keyOf(target: SshTarget, knownHostsFile: string): string {
    const via = target.proxyJump ? ` via ${SshPool.keyOf(target.proxyJump, knownHostsFile)}` : target.proxyCommand ? ` via command ${target.proxyCommand}` : '';
    return `${target.user}@${label(target)} key=${target.identityFile} known_hosts=${knownHostsFile}${via}`;
  }

  /**
   * Runs `fn` with a leased connection. If the connection turns out to be dead before `fn`
   * could start anything (StaleConnectionError), it is dropped and `fn` runs once more on a
   * fresh one.
   */
  async use<T>(target: SshTarget, ctx: ConnectContext, fn: (c: Connection) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const conn = await this.acquire(target, ctx);
      try {
        return await fn(conn);
      } catch (err) {
        if (err instanceof StaleConnectionError && attempt === 0) {
          conn.destroy();
          continue;
        }
        throw err;
      } finally {
        conn.release();
      }
    }
  }

  /** A leased connection; call `release()` when done. */
  async acquire(target: SshTarget, ctx: ConnectContext): Promise<Connection> {
    const key = SshPool.keyOf(target, ctx.knownHostsFile);
    for (;;) {
      const existing = this.conns.get(key);
      if (existing?.isOpen) {
        existing.acquire();
        return existing;
      }
      let p = this.pending.get(key);
      if (!p) {
        p = this.connectWithRetries(key, target, ctx).finally(() => this.pending.delete(key));
        this.pending.set(key, p);
      }
      const conn = await p;
      if (conn.isOpen) {
        conn.acquire();
        return conn;
      }
    }
  }

  closeAll(): void {
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }

  private async connectWithRetries(key: string, target: SshTarget, ctx: ConnectContext): Promise<Connection> {
    const policy = ctx.policy ?? PATIENT;
    // Key problems are final and the same on every attempt: report them before dialling.
    const privateKey = await loadIdentity(target.identityFile);
    let last: Failure | undefined;
    for (let attempt = 1; attempt <= policy.attempts; attempt++) {
      try {
        const conn = await this.connectOnce(key, target, ctx, policy, privateKey);
        conn.useSftpMemo({
          get: () => this.noSftp.get(key),
          set: (v) => (v ? this.noSftp.set(key, v) : this.noSftp.delete(key)),
        });
        this.conns.set(key, conn);
        conn.onClose(() => {
          if (this.conns.get(key) === conn) this.conns.delete(key);
        });
        // Idle until someone leases it.
        conn.acquire();
        conn.release();
        return conn;
      } catch (err) {
        last = err as Failure;
        if (!last.retryable) throw last.error;
        if (attempt < policy.attempts) await sleep(Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (attempt - 1)));
      }
    }
    const n = policy.attempts;
    throw new ProviderError('transient', `cannot reach ${label(target)}: ${last?.reason ?? 'unknown error'} (${n} attempt${n === 1 ? '' : 's'})`);
  }

  /** One attempt; rejects with a Failure. */
  private async connectOnce(key: string, target: SshTarget, ctx: ConnectContext, policy: ConnectPolicy, privateKey: Buffer): Promise<Connection> {
    const { Client } = await ssh2();
    let via: Connection | undefined;
    let sock: net.Socket | ClientChannel | ProxyCommandStream;
    try {
      if (target.proxyCommand) {
        sock = await proxyCommandStream(target.proxyCommand, policy.connectTimeoutMs);
      } else if (target.proxyJump) {
        via = await this.acquire(target.proxyJump, ctx);
        try {
          sock = await via.forward(target.host, target.port);
        } catch (err) {
          via.release();
          via = undefined;
          // The bastion could not reach the node: as transient as a refused connection.
          throw Object.assign(new Error(`via ${label(target.proxyJump)}: ${(err as Error).message}`), { code: 'ECONNREFUSED' });
        }
      } else {
        const tcp = await tcpConnect(target.host, target.port, policy.connectTimeoutMs);
        tcp.setKeepAlive(true, TCP_KEEPALIVE_MS);
        sock = tcp;
      }
    } catch (err) {
      throw classify(err, target, undefined);
    }
    let hostKeyProblem: string | undefined;
    const client = new Client();
    // ssh2 can emit more than one error for one failure (a handshake timeout, then the lost
    // socket): keep a listener for the client's whole life so none is ever unhandled.
    client.on('error', () => undefined);
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => {
          cleanup();
          client.destroy();
          reject(err);
        };
        const onClose = () => {
          cleanup();
          reject(Object.assign(new Error('connection lost before the SSH handshake finished'), { code: 'ECONNRESET' }));
        };
        const onReady = () => {
          cleanup();
          resolve();
        };
        const cleanup = () => {
          client.off('error', onError);
          client.off('close', onClose);
          client.off('ready', onReady);
        };
        client.on('error', onError);
        client.on('close', onClose);
        client.on('ready', onReady);
        client.connect({
          sock,
          username: target.user,
          privateKey,
          readyTimeout: policy.connectTimeoutMs,
          keepaliveInterval: 0,
          hostVerifier: (keyBlob: Buffer): boolean => {
            try {
              const v = verifyHostKey(ctx.knownHostsFile, target.host, target.port, keyBlob);
              if (!v.ok) hostKeyProblem = v.message;
              return v.ok;
            } catch (err) {
              hostKeyProblem = `cannot record the host key of ${label(target)} in ${ctx.knownHostsFile}: ${(err as Error).message}`;
              return false;
            }
          },
        });
      });
    } catch (err) {
      if (via) via.release();
      (sock as { destroy?: () => void }).destroy?.();
      throw classify(err, target, hostKeyProblem);
    }
    this.connectsTotal++;
    const conn = new Connection(key, target, client, sock as Sock, this.idleMs, via);
    // The lease taken on the bastion while connecting becomes the tunnelled connection's pin.
    via?.release();
    return conn;
  }
}

/** The pool every SshRunner and SshProvider in this process shares unless given another. */
export const sharedPool = new SshPool();

/** Closes every pooled connection now (for a process that wants to exit without waiting). */
export function closeSshConnections(): void {
  sharedPool.closeAll();
}

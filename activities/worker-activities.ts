// What the CLI asks of a worker through the worker-operation workflows: read job logs (from
// this worker's archive, or from the node while the phase runs), check the infra this worker's
// credentials and config can use, and the debug failures of local nodes. The CLI never reads a
// worker's files or a node itself, so a CLI on a laptop behaves as one beside the worker.
import zlib from 'node:zlib';
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES } from '../core/failures.js';
import { INFRA_NAMES } from '../core/names.js';
import {
  describeWorker,
  encodeLogChunks,
  LOG_READ_MAX_BYTES,
  type CheckInfraRequest,
  type CheckInfraResult,
  type ListGpusRequest,
  type ListGpusResult,
  type DebugPreemptRequest,
  type DebugUnreachableRequest,
  type LogStreamRequest,
  type LogStreamResult,
  type ReadLogsRequest,
} from '../core/worker-ops.js';
import { LocalProvider } from '../providers/local/index.js';
import { getProvider, type ProviderContext } from '../providers/registry.js';
import type { CommandRunner } from '../providers/types.js';
import { archivedLogPath, readArchivedLog } from './log-archive.js';
import { withPortableKeys } from './portable-keys.js';
import { workerIdentity } from './worker-identity.js';

/** No stream gets less than this of the budget (unless less is left): small reads cost a round trip each. */
const MIN_SHARE = 64 * 1024;
/** A read this close to its share may have been cut at it (UTF-8 boundaries shave up to 3 bytes). */
const UTF8_SLACK = 3;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The infra a request names (every one when it names none); an unknown name is refused. */
function infraNames(only: string[]): string[] {
  const known: readonly string[] = INFRA_NAMES;
  const unknown = only.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw ApplicationFailure.nonRetryable(`unknown infra ${unknown.map((n) => `'${n}'`).join(', ')}; Petrel supports: ${known.join(', ')}`, FAILURE_TYPES.config);
  }
  return only.length > 0 ? only : [...known];
}

export function createWorkerActivities(ctx: ProviderContext) {
  const me = workerIdentity(ctx.home);

  /**
   * Reads at most maxBytes (≤ 1 MiB) of the given logs, shared fairly between them, as one
   * binary payload (core/worker-ops.ts encodeLogChunks). An ended phase is read from this
   * worker's archive, which is complete once it exists; a running one from its node.
   */
  async function readLogs(req: ReadLogsRequest): Promise<Uint8Array> {
    let left = Math.min(req.maxBytes ?? LOG_READ_MAX_BYTES, LOG_READ_MAX_BYTES);
    let runnerError: string | undefined;
    const runners = new Map<number, CommandRunner>();
    const runnerOf = (rank: number): CommandRunner => {
      let r = runners.get(rank);
      if (r) return r;
      const node = req.handle.nodes.find((n) => n.rank === rank);
      if (!node) throw new Error(`cluster '${req.handle.clusterName}' has no node ${rank}`);
      if (runnerError) throw new Error(runnerError);
      try {
        r = withPortableKeys(getProvider(req.handle.provider, ctx), ctx.home).runner(req.handle, node);
      } catch (err) {
        runnerError = message(err);
        throw err;
      }
      runners.set(rank, r);
      return r;
    };

    const results: LogStreamResult[] = [];
    const data: Uint8Array[] = [];
    for (let i = 0; i < req.streams.length; i++) {
      const s = req.streams[i]!;
      const share = Math.min(left, Math.max(MIN_SHARE, Math.floor(left / (req.streams.length - i))));
      const read = share < 4 ? skipped(s) : await readStream(req, s, share, runnerOf);
      left -= read.data.length;
      results.push(read.result);
      data.push(read.data);
    }
    const body = Buffer.concat(data);
    // Level 1: most of the saving for little CPU; kept only when it saves.
    const deflated = body.length >= 4096 ? zlib.deflateRawSync(body, { level: 1 }) : undefined;
    if (deflated && deflated.length < body.length) return encodeLogChunks({ worker: me, streams: results, encoding: 'deflate' }, deflated);
    return encodeLogChunks({ worker: me, streams: results, encoding: 'identity' }, body);
  }

  function skipped(s: LogStreamRequest): { result: LogStreamResult; data: Uint8Array } {
    return { result: { key: s.key, rank: s.rank, offset: s.offset, nextOffset: s.offset, bytes: 0, source: 'none', more: true, eof: false }, data: new Uint8Array(0) };
  }

  async function readStream(
    req: ReadLogsRequest,
    s: LogStreamRequest,
    share: number,
    runnerOf: (rank: number) => CommandRunner,
  ): Promise<{ result: LogStreamResult; data: Uint8Array }> {
    const base = { key: s.key, rank: s.rank, offset: s.offset };
    const file = archivedLogPath(ctx.home, req.handle.clusterName, s.key, s.rank);

    const fromArchive = () => {
      const a = readArchivedLog(file, s.offset, share);
      if (!a) return undefined;
      const nextOffset = s.offset + a.data.length;
      const result: LogStreamResult = { ...base, nextOffset, bytes: a.data.length, source: 'archive', more: nextOffset < a.size, eof: s.ended && nextOffset >= a.size };
      return { result, data: a.data };
    };
    const fromNode = async () => {
      const chunk = await runnerOf(s.rank).readLog(s.key, s.offset, share);
      const bytes = Buffer.from(chunk.data, 'utf8');
      const read = chunk.nextOffset - s.offset;
      return { nextOffset: chunk.nextOffset, bytes, full: read > 0 && read >= share - UTF8_SLACK };
    };

    if (s.ended) {
      // The archive is written when the phase ends, complete, before the workflow says it ended.
      const archived = fromArchive();
      if (archived) return archived;
      let node: Awaited<ReturnType<typeof fromNode>>;
      try {
        node = await fromNode();
      } catch (err) {
        const why = `it was not archived (${file} does not exist on ${describeWorker(me)}: the node was lost before the phase ended) and its node does not answer: ${message(err)}`;
        return { result: { ...base, nextOffset: s.offset, bytes: 0, source: 'none', more: false, eof: false, lost: { kind: 'unreachable', why } }, data: new Uint8Array(0) };
      }
      if (node.nextOffset === s.offset && s.offset === 0) {
        const why = `${describeWorker(me)} has no archive of it (${file} does not exist) and its node no longer has it`;
        return { result: { ...base, nextOffset: s.offset, bytes: 0, source: 'none', more: false, eof: false, lost: { kind: 'gone', why } }, data: new Uint8Array(0) };
      }
      // Not archived (yet: a cancelled phase is archived after it is reported ended), but the node has it.
      return { result: { ...base, nextOffset: node.nextOffset, bytes: node.bytes.length, source: 'node', more: node.full, eof: !node.full }, data: node.bytes };
    }

    try {
      const node = await fromNode();
      return { result: { ...base, nextOffset: node.nextOffset, bytes: node.bytes.length, source: 'node', more: node.full, eof: false }, data: node.bytes };
    } catch (err) {
      // A node that cannot be read now may answer later; meanwhile what was archived (a worker
      // that stopped mid-phase archives what there was) is as good as the node's copy.
      const archived = fromArchive();
      if (archived && archived.result.nextOffset > s.offset) return archived;
      return { result: { ...base, nextOffset: s.offset, bytes: 0, source: 'none', more: false, eof: false, unreachable: message(err) }, data: new Uint8Array(0) };
    }
  }

  /** `petrel check`: answered with this worker's credentials and config, not the CLI's. */
  async function checkInfra(req: CheckInfraRequest): Promise<CheckInfraResult> {
    const results = await Promise.all(infraNames(req.only).map((n) => getProvider(n, ctx).check()));
    return { worker: me, results };
  }

  /** `petrel show-gpus`: the accelerators each infra reports, with this worker's credentials. */
  async function listGpus(req: ListGpusRequest): Promise<ListGpusResult> {
    const answers = await Promise.all(
      infraNames(req.only).map(async (n) => {
        const p = getProvider(n, ctx);
        if (!p.gpus) return { gpus: [], problems: req.only.includes(n) ? [`${n}: Petrel cannot list its accelerators`] : [] };
        try {
          return await p.gpus();
        } catch (err) {
          return { gpus: [], problems: [`${n}: ${(err as Error).message}`] };
        }
      }),
    );
    return { worker: me, gpus: answers.flatMap((a) => a.gpus), problems: answers.flatMap((a) => a.problems) };
  }

  function localOnly(req: { handle: { provider: string; clusterName: string } }): LocalProvider {
    if (req.handle.provider !== 'local') {
      throw ApplicationFailure.nonRetryable(`debug commands work on local clusters; cluster '${req.handle.clusterName}' runs on ${req.handle.provider}`, FAILURE_TYPES.config);
    }
    return new LocalProvider({ home: ctx.home });
  }

  /** `petrel debug preempt`: what a cloud reclaiming spot machines does, to local nodes. */
  async function debugPreempt(req: DebugPreemptRequest): Promise<number[]> {
    return localOnly(req).preempt(req.handle, req.ranks);
  }

  /** `petrel debug unreachable`: local nodes stop answering for a while. */
  async function debugUnreachable(req: DebugUnreachableRequest): Promise<number[]> {
    const provider = localOnly(req);
    const hit: number[] = [];
    for (const node of req.handle.nodes) {
      if (req.ranks && !req.ranks.includes(node.rank)) continue;
      await provider.makeUnreachable(req.handle, node.rank, req.seconds);
      hit.push(node.rank);
    }
    return hit;
  }

  return { readLogs, checkInfra, listGpus, debugPreempt, debugUnreachable };
}

export type WorkerActivities = ReturnType<typeof createWorkerActivities>;

// Handler of `petrel jobs checkpoints ID [--task N|NAME] [--download DIR] [--json]`: a managed
// job's checkpoint snapshots (from its workflow), and a snapshot's files fetched through the
// worker that can read its store (the CLI never reads a store itself).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { CHECKPOINT_READ_MAX_BYTES, type ReadCheckpointRequest, type ReadCheckpointResult } from '../../core/worker-ops.js';
import type { ManagedJobView } from '../../workflows/managed-job-types.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { managedJobView, parseJobId } from '../managed-job-client.js';
import { findStep, isPipeline, pipelineView } from '../pipeline-client.js';
import { runWorkerOperation } from '../worker-ops.js';
import { formatBytes, renderCheckpoints } from './jobs-describe.js';

async function jobOrTask(client: Client, id: number, task: string | undefined): Promise<ManagedJobView> {
  if (await isPipeline(client, id)) {
    const view = await pipelineView(client, id);
    if (task === undefined) throw new UserError(`managed job ${id} is a pipeline; name the task: --task ${view.steps.map((s) => s.name).join('|')}`);
    const step = findStep(view, task);
    if (!step.workflowId) throw new UserError(`job ${id} task ${step.index} (${step.name}) has not started: ${step.status}`);
    return managedJobView(client, step.workflowId);
  }
  if (task !== undefined) throw new UserError(`--task ${task}: managed job ${id} is a single task, not a pipeline`);
  return managedJobView(client, id);
}

export async function jobsCheckpoints(ctx: CliContext, idArg: string, flags: { task?: string; download?: string; snapshot?: string; json?: boolean }): Promise<number> {
  const id = parseJobId(idArg);
  const client = await ctx.client();
  const job = await jobOrTask(client, id, flags.task);
  const c = job.checkpoint;
  if (!c) throw new UserError(`managed job ${id}${flags.task !== undefined ? ` task ${flags.task}` : ''} declares no checkpoint: (add checkpoint: {path: ..., interval: ...} to its task YAML)`);
  if (flags.download === undefined) {
    if (flags.json) ctx.line(JSON.stringify(c, null, 2));
    else renderCheckpoints(ctx, c);
    return 0;
  }
  let seq: number | undefined;
  if (flags.snapshot !== undefined) {
    seq = Number(flags.snapshot);
    if (!Number.isInteger(seq) || seq < 1) throw new UserError(`--snapshot: '${flags.snapshot}' is not a snapshot number (see petrel jobs checkpoints ${id})`);
  }
  // A store in a worker's home is read by that worker; a shared one by any.
  const onWorker = c.store?.startsWith('file://') && c.worker ? { queue: c.worker.queue, worker: c.worker } : {};
  const base: Omit<ReadCheckpointRequest, 'piece'> = { taskId: job.taskId, ...(c.store ? { store: c.store } : {}), ...(seq !== undefined ? { seq } : {}) };
  const read = (req: ReadCheckpointRequest) =>
    runWorkerOperation<ReadCheckpointResult>(client, 'checkpoint', { op: 'readCheckpoint', args: [req], ...onWorker, what: `the checkpoints of managed job ${id}` });
  const listed = await read(base);
  if (!listed.manifest) throw new UserError(`managed job ${id}: ${listed.missing ?? 'no snapshot'}`);
  const m = listed.manifest;
  const dir = path.resolve(flags.download);
  fs.mkdirSync(dir, { recursive: true });
  let bytes = 0;
  for (const f of m.files) {
    const target = path.resolve(dir, f.path);
    if (!target.startsWith(dir + path.sep)) throw new UserError(`snapshot ${m.seq} names a file outside the directory (${f.path}); nothing more is written`);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const out = fs.openSync(`${target}.part`, 'w', f.mode & 0o777);
    const hash = crypto.createHash('sha256');
    try {
      for (let offset = 0; offset < f.size; ) {
        const piece = await read({ ...base, piece: { sha256: f.sha256, offset, maxBytes: CHECKPOINT_READ_MAX_BYTES } });
        const data = Buffer.from(piece.data ?? '', 'base64');
        if (data.length === 0) throw new UserError(`managed job ${id}: ${piece.missing ?? `${f.path} ended early in the store`}`);
        fs.writeSync(out, data);
        hash.update(data);
        offset += data.length;
      }
    } finally {
      fs.closeSync(out);
    }
    if (hash.digest('hex') !== f.sha256) throw new UserError(`${f.path}: what was read does not match the snapshot (content changed in the store?)`);
    fs.renameSync(`${target}.part`, target);
    bytes += f.size;
  }
  if (flags.json) ctx.line(JSON.stringify({ seq: m.seq, attempt: m.attempt, takenAt: m.takenAt, marker: m.marker, files: m.files.length, bytes, dir }, null, 2));
  else ctx.line(`Snapshot ${m.seq} (attempt ${m.attempt}, taken ${m.takenAt}${m.marker ? `, marker ${m.marker}` : ''}): ${m.files.length} file(s), ${formatBytes(bytes)} written to ${dir}`);
  return 0;
}

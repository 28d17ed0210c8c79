// Serves `petrel jobs checkpoints --download` through Temporal: a snapshot's file list, then its
// files piece by piece (the CLI never reads a store or a worker's files itself).
import { jobStoreKey, objectKey, parseManifest, snapshotKey } from '../core/checkpoint-manifest.js';
import { CHECKPOINT_READ_MAX_BYTES, type ReadCheckpointRequest, type ReadCheckpointResult } from '../core/worker-ops.js';
import { openStore } from '../providers/storage/index.js';
import { StoreError } from '../providers/storage/types.js';
import type { ProviderContext } from '../providers/registry.js';
import { latestManifest, readAll } from './checkpoint-engine.js';
import { checkpointSettings } from './checkpoint-config.js';

export function createCheckpointReads(ctx: ProviderContext) {
  async function readCheckpoint(req: ReadCheckpointRequest): Promise<ReadCheckpointResult> {
    const store = openStore(`${req.store ?? checkpointSettings(ctx.home).store}/${jobStoreKey(req.taskId)}`);
    try {
      if (req.piece) {
        const max = Math.min(req.piece.maxBytes, CHECKPOINT_READ_MAX_BYTES);
        const chunks: Buffer[] = [];
        let size = 0;
        const stream = await store.get(objectKey(req.piece.sha256), { offset: req.piece.offset });
        for await (const c of stream) {
          const b = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
          chunks.push(b);
          size += b.length;
          if (size >= max) break;
        }
        stream.destroy();
        return { data: Buffer.concat(chunks).subarray(0, max).toString('base64') };
      }
      const m = req.seq === undefined ? await latestManifest(store) : parseManifest(await readAll(await store.get(snapshotKey(req.seq))));
      if (!m) return { missing: req.seq === undefined ? 'the job has no complete snapshot in its store' : `snapshot ${req.seq} is not in the store (pruned or expired)` };
      return { manifest: { seq: m.seq, attempt: m.attempt, takenAt: m.takenAt, marker: m.marker, files: m.files.map((f) => ({ path: f.path, size: f.size, mode: f.mode, sha256: f.sha256 })) } };
    } catch (err) {
      if (err instanceof StoreError && (err.kind === 'not_found' || err.kind === 'no_bucket')) return { missing: `snapshot ${req.seq ?? 'newest'} is not in the store (pruned or expired)` };
      throw err;
    }
  }
  return { readCheckpoint };
}

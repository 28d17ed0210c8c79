// A managed job's bucket mounts, inside its workflow: put them on each attempt's nodes before
// setup, send MOUNT_CACHED changes back to their buckets after each phase and every interval
// while the run lives (and once more when an attempt ends), and delete the buckets Petrel made
// for the job (persistent: false) when the job ends.
import { condition } from '@temporalio/workflow';
import { FAILURE_TYPES } from '../core/failures.js';
import type { StorageMountRequest } from '../core/storage-mounts.js';
import { activities, TEARDOWN } from './activity-options.js';
import { errorMessage, failureType } from './failure-info.js';
import { LAST_CHANCE, TRANSFER } from './job-checkpoints.js';
import type { AttemptView, StorageView } from './managed-job-types.js';
import { nowIso } from './workflow-time.js';

/** How often a running job's MOUNT_CACHED changes go back to their buckets. */
const FLUSH_INTERVAL_MS = 30_000;

export class StorageMountFailed extends Error {}

export class JobStorage {
  readonly view: StorageView = { mounts: [], toDelete: [] };
  private stop = false;
  private loop: Promise<void> | undefined;
  private readonly cached: boolean;

  constructor(
    private readonly mounts: StorageMountRequest[],
    private readonly jobLabel: string,
  ) {
    this.cached = mounts.some((m) => m.mode === 'MOUNT_CACHED');
  }

  async mount(attempt: AttemptView): Promise<void> {
    try {
      const mounted = await activities(TRANSFER, `mount ${this.mounts.length} bucket(s) on ${this.jobLabel}'s attempt ${attempt.attempt}`).mountStorage({ handle: attempt.handle!, mounts: this.mounts });
      this.view.mounts = mounted.map((m) => ({ ...m, created: m.created || this.view.mounts.some((x) => x.url === m.url && x.created) }));
      for (const m of this.mounts) {
        if (m.deleteAfter && this.view.mounts.some((x) => x.url === m.url && x.created) && !this.view.toDelete.includes(m.url)) this.view.toDelete.push(m.url);
      }
    } catch (err) {
      if (failureType(err) === FAILURE_TYPES.config) throw new StorageMountFailed(errorMessage(err));
      throw err;
    }
  }

  /** From the start of the run: MOUNT_CACHED changes go back every interval until `end`. */
  start(attempt: AttemptView): void {
    if (!this.cached) return;
    this.stop = false;
    this.loop = (async () => {
      for (;;) {
        if (await condition(() => this.stop, FLUSH_INTERVAL_MS)) return;
        await this.flush(attempt, TRANSFER);
      }
    })().catch(() => undefined);
  }

  /** After a phase (and when an attempt ends, while its nodes can still be read). */
  async end(attempt: AttemptView, last = false): Promise<void> {
    if (!this.cached) return;
    this.stop = true;
    await this.loop;
    this.loop = undefined;
    await this.flush(attempt, last ? LAST_CHANCE : TRANSFER);
  }

  private async flush(attempt: AttemptView, options: typeof TRANSFER): Promise<void> {
    try {
      const r = await activities(options, `sync MOUNT_CACHED changes of ${this.jobLabel} (attempt ${attempt.attempt}) to their buckets`).flushStorage({ handle: attempt.handle!, mounts: this.mounts });
      this.view.lastFlush = { at: nowIso(), files: r.files, bytes: r.bytes };
    } catch (err) {
      this.view.lastFlush = { at: nowIso(), files: 0, bytes: 0, error: errorMessage(err) };
    }
  }

  /** When the job ends: the buckets Petrel created for it with persistent: false. */
  async cleanup(): Promise<void> {
    if (this.view.toDelete.length === 0) return;
    await activities(TEARDOWN, `delete ${this.view.toDelete.length} bucket(s) made for ${this.jobLabel} (persistent: false)`).deleteStorage({ urls: this.view.toDelete });
    this.view.deleted = [...this.view.toDelete];
    this.view.toDelete = [];
  }
}

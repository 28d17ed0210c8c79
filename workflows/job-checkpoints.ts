// A managed job's checkpoints, inside its workflow: restore the newest snapshot onto each new
// attempt's nodes before setup, snapshot the directory every interval while the run lives (a
// durable timer, so an idle job holds no activity), and once more when the attempt ends
// (finished, preempted, cancelled) while its nodes can still be read.
import { ActivityCancellationType, condition, type ActivityOptions } from '@temporalio/workflow';
import { MARKER } from '../core/checkpoint-manifest.js';
import { FAILURE_TYPES, NON_RETRYABLE_FAILURE_TYPES } from '../core/failures.js';
import type { CheckpointSpec } from '../core/task.js';
import { activities } from './activity-options.js';
import { errorMessage, failureType } from './failure-info.js';
import type { AttemptView, CheckpointSnapshot, CheckpointView } from './managed-job-types.js';
import { nowIso } from './workflow-time.js';

/** A snapshot or restore moves data: it may take long, but must keep heartbeating. */
export const TRANSFER: ActivityOptions = {
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '30s',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES },
};

/** The last snapshot of nodes that are going away: one try, quickly, or none. */
export const LAST_CHANCE: ActivityOptions = { ...TRANSFER, startToCloseTimeout: '10 minutes', retry: { maximumAttempts: 2, initialInterval: '1s' } };

/** How long a job may take to save after SIGTERM before its last snapshot is taken anyway. */
const SIGTERM_GRACE_SECONDS = 60;

export class CheckpointFailed extends Error {}

export class JobCheckpoints {
  readonly view: CheckpointView;
  private stop = false;
  private loop: Promise<void> | undefined;
  /** the attempt whose last snapshot was taken (end() is called from more than one path) */
  private ended: number | undefined;

  constructor(
    private readonly spec: CheckpointSpec,
    private readonly taskId: string,
    private readonly jobLabel: string,
  ) {
    this.view = { ...(spec.store ? { store: spec.store } : {}), intervalSeconds: spec.intervalSeconds, keep: spec.keep, snapshots: [] };
  }

  private target(attempt: AttemptView) {
    return { handle: attempt.handle!, taskId: this.taskId, dir: this.spec.path, ...(this.spec.store ? { store: this.spec.store } : {}) };
  }

  /** Before setup: the newest complete snapshot onto every node; throws CheckpointFailed when the store refuses. */
  async restore(attempt: AttemptView): Promise<void> {
    try {
      const r = await activities(TRANSFER, `restore the checkpoint of ${this.jobLabel} onto attempt ${attempt.attempt}'s ${attempt.handle!.nodes.length} node(s)`).restoreCheckpoint(this.target(attempt));
      attempt.checkpointPaths = r.paths;
      this.view.store = r.store;
      if (r.store.startsWith('file://')) this.view.worker = r.worker;
      if (r.restored) attempt.restoredFrom = { ...r.restored };
    } catch (err) {
      if (failureType(err) === FAILURE_TYPES.config) throw new CheckpointFailed(`checkpoint store: ${errorMessage(err)}`);
      throw err;
    }
  }

  /** What the job's processes are told, per node (rank order). */
  envByRank(attempt: AttemptView): Array<Record<string, string>> {
    const from = attempt.restoredFrom;
    return (attempt.checkpointPaths ?? []).map((dir) => ({
      PETREL_CHECKPOINT_DIR: dir,
      PETREL_CHECKPOINT_MARKER: `${dir}/${MARKER}`,
      ...(from ? { PETREL_RESTORED_FROM: `snapshot ${from.seq} of attempt ${from.attempt}, taken ${from.takenAt}${from.marker ? `, marker ${from.marker}` : ''}` } : {}),
    }));
  }

  /** From the start of the run: a snapshot every interval until `end` is called. */
  start(attempt: AttemptView): void {
    this.stop = false;
    this.ended = undefined;
    this.loop = (async () => {
      for (;;) {
        if (await condition(() => this.stop, this.spec.intervalSeconds * 1000)) return;
        await this.snapshot(attempt, 'interval', TRANSFER);
      }
    })().catch(() => undefined);
  }

  /** Stops the interval snapshots (waiting for one in flight), then takes the attempt's last one. */
  async end(attempt: AttemptView): Promise<void> {
    if (this.ended === attempt.attempt) return;
    this.ended = attempt.attempt;
    this.stop = true;
    await this.loop;
    this.loop = undefined;
    if (attempt.handle && attempt.checkpointPaths) await this.snapshot(attempt, 'final', LAST_CHANCE);
  }

  private async snapshot(attempt: AttemptView, reason: 'interval' | 'final', options: ActivityOptions): Promise<void> {
    try {
      const r = await activities(options, `${reason === 'final' ? 'last ' : ''}checkpoint snapshot of ${this.jobLabel} (attempt ${attempt.attempt})`).snapshotCheckpoint({
        ...this.target(attempt),
        attempt: attempt.attempt,
        keep: this.spec.keep,
        // The job was sent SIGTERM (or ended): give it time to finish its last save.
        ...(reason === 'final' && attempt.runKey ? { last: { runKey: attempt.runKey, graceSeconds: SIGTERM_GRACE_SECONDS } } : {}),
      });
      if (r.taken) {
        const taken: CheckpointSnapshot = { seq: r.taken.seq, attempt: attempt.attempt, takenAt: r.taken.takenAt, bytes: r.taken.bytes, files: r.taken.files, marker: r.taken.marker, copiedBytes: r.taken.copiedBytes, reason };
        this.view.snapshots = [...this.view.snapshots.filter((s) => !r.taken!.pruned.includes(s.seq)), taken].slice(-this.spec.keep);
        if (r.worker && (this.view.store ?? '').startsWith('file://')) this.view.worker = r.worker;
      } else if (r.skipped) this.view.lastSkipped = { at: nowIso(), why: r.skipped };
    } catch (err) {
      this.view.lastSkipped = { at: nowIso(), why: `snapshot failed: ${errorMessage(err)}` };
    }
  }
}

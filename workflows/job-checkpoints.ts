// A managed job's checkpoints, inside its workflow: restore the newest snapshot onto each new
// attempt's nodes before setup, snapshot the directory every interval while the run lives (a
// durable timer, so an idle job holds no activity), and once more when the attempt ends
// (finished, preempted, cancelled) while its nodes can still be read.
import { ActivityCancellationType, CancellationScope, isCancellation, sleep, type ActivityOptions } from '@temporalio/workflow';
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

/** The last snapshot of nodes that are going away: one try, or none. */
export const LAST_CHANCE: ActivityOptions = { ...TRANSFER, startToCloseTimeout: '10 minutes', retry: { maximumAttempts: 1 } };

/** An interval snapshot cut short when its attempt ends: not waited for (its nodes may be gone). */
const INTERVAL: ActivityOptions = { ...TRANSFER, cancellationType: ActivityCancellationType.TRY_CANCEL };

/** How long a job may take to save after SIGTERM before its last snapshot is taken anyway. */
const SIGTERM_GRACE_SECONDS = 60;

export class CheckpointFailed extends Error {}

export class JobCheckpoints {
  readonly view: CheckpointView;
  private loop: { scope: CancellationScope; done: Promise<void> } | undefined;
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
    this.ended = undefined;
    const scope = new CancellationScope();
    const done = scope
      .run(async () => {
        for (;;) {
          await sleep(this.spec.intervalSeconds * 1000);
          await this.snapshot(attempt, 'interval', INTERVAL);
        }
      })
      .catch(() => undefined);
    this.loop = { scope, done };
  }

  /**
   * Stops the interval snapshots (one in flight is cut short, not waited for), then takes the
   * attempt's last one — unless its nodes stopped answering (nothing could be read, and the
   * recovery would only wait for the tries to fail).
   */
  async end(attempt: AttemptView, opts: { nodesAnswer?: boolean } = {}): Promise<void> {
    if (this.ended === attempt.attempt) return;
    this.ended = attempt.attempt;
    if (this.loop) {
      this.loop.scope.cancel();
      await this.loop.done;
      this.loop = undefined;
    }
    if (opts.nodesAnswer === false) {
      this.view.lastSkipped = { at: nowIso(), why: `no last snapshot of attempt ${attempt.attempt}: its nodes stopped answering` };
      return;
    }
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
        // The store is the truth (a snapshot cut short may still have completed on its worker).
        const mine = new Map([...this.view.snapshots, taken].map((x) => [x.seq, x]));
        this.view.snapshots = r.kept ? r.kept.map((k) => ({ ...mine.get(k.seq), ...k })) : [...this.view.snapshots.filter((x) => !r.taken!.pruned.includes(x.seq)), taken].slice(-this.spec.keep);
        if (r.worker && (this.view.store ?? '').startsWith('file://')) this.view.worker = r.worker;
      } else if (r.skipped) {
        this.view.lastSkipped = { at: nowIso(), why: r.skipped };
        if (r.kept) {
          const mine = new Map(this.view.snapshots.map((x) => [x.seq, x]));
          this.view.snapshots = r.kept.slice(-this.spec.keep).map((k) => ({ ...mine.get(k.seq), ...k }));
        }
      }
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.view.lastSkipped = { at: nowIso(), why: `snapshot failed: ${errorMessage(err)}` };
    }
  }
}

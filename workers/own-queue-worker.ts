// Each worker process also polls a task queue of its own, `petrel-worker/<id>` (the id is kept
// in its PETREL_HOME, activities/worker-identity.ts), with the activities that need this
// worker's files: reading the log archive in its home and the local nodes under it, and the
// debug failures of those nodes. The CLI reaches them through worker-operation workflows
// (workflows/worker-operation.ts): one-shot operations run their activity here, and the CLI's
// log sessions run here as workflows whose reads are local activities (one round trip less per
// read). Cluster handles and job views name the queue to use.
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createPhaseWatchActivities } from '../activities/phase-watch-activities.js';
import { createClusterActivities } from '../activities/cluster-activities.js';
import { createCheckpointReads } from '../activities/checkpoint-reads.js';
import { createWorkerActivities } from '../activities/worker-activities.js';
import { workerIdentity } from '../activities/worker-identity.js';
import type { WorkerRef } from '../core/cluster-state.js';
import type { WorkerTracing } from './tracing.js';

export interface OwnQueueWorker {
  worker: Worker;
  identity: WorkerRef;
}

export async function createOwnQueueWorker(opts: {
  connection: NativeConnection;
  namespace: string;
  dataConverter: DataConverter;
  home: string;
  /** the main worker's workflow bundle (only log sessions run on this queue) */
  workflows: { workflowBundle: { codePath: string } } | { workflowsPath: string; interceptors?: { workflowModules: string[] } };
  /** set when tracing is on (workers/tracing.ts) */
  tracing?: WorkerTracing;
}): Promise<OwnQueueWorker> {
  const identity = workerIdentity(opts.home);
  const { readLogs, debugPreempt, debugUnreachable } = createWorkerActivities({ home: opts.home });
  const { watchScope, finishPhase } = createPhaseWatchActivities({ home: opts.home });
  const { signalJob } = createClusterActivities({ home: opts.home });
  const { readCheckpoint } = createCheckpointReads({ home: opts.home });
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: identity.queue,
    dataConverter: opts.dataConverter,
    ...opts.workflows,
    // Nodes only this worker reaches (local directories) are watched, stopped and archived here.
    activities: { readLogs, debugPreempt, debugUnreachable, watchScope, finishPhase, signalJob, readCheckpoint },
    // Reads are short and bounded (1 MiB each); each watcher holds one slot for as long as it
    // watches (a few per region).
    maxConcurrentActivityTaskExecutions: 64,
    maxConcurrentLocalActivityExecutions: 16,
    // Sessions are short-lived and small.
    maxCachedWorkflows: 50,
    shutdownGraceTime: '2s',
    ...(opts.tracing ? { interceptors: { ...('interceptors' in opts.workflows ? opts.workflows.interceptors : {}), activity: opts.tracing.interceptors.activity }, sinks: opts.tracing.sinks } : {}),
  });
  return { worker, identity };
}

/** The activities any worker serves on the shared 'petrel' queue for the CLI. */
export function sharedQueueActivities(home: string) {
  const { readLogs, checkInfra, listGpus } = createWorkerActivities({ home });
  // A store shared by the team (S3, GCS, a common directory) is read by any worker.
  const { readCheckpoint } = createCheckpointReads({ home });
  // readLogs here serves handles recorded before workers had queues of their own.
  return { readLogs, checkInfra, listGpus, readCheckpoint };
}

/** Runs the main worker and the own-queue worker together; either stopping stops the other. */
export async function runAlongside(main: Worker, own: Worker): Promise<void> {
  const stop = (w: Worker) => {
    try {
      if (w.getState() === 'RUNNING') w.shutdown();
    } catch {
      // already stopping
    }
  };
  await Promise.all([main.run().finally(() => stop(own)), own.run().finally(() => stop(main))]);
}

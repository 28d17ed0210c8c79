// The Petrel worker: one process that runs every workflow and activity on task queue `petrel`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createClusterActivities } from '../activities/cluster-activities.js';
import { createJobActivities } from '../activities/job-activities.js';
import { createPhaseWatchActivities } from '../activities/phase-watch-activities.js';
import { startCodecServer, type CodecServer } from '../codec/codec-server.js';
import { petrelDataConverter } from '../codec/data-converter.js';
import type { CodecKeyring } from '../codec/keys.js';
import { loadKeyring } from '../codec/keys.js';
import { TASK_QUEUE } from '../core/names.js';
import { readEmbeddedRecord } from './embedded-record.js';
import { createOwnQueueWorker, runAlongside, sharedQueueActivities } from './own-queue-worker.js';
import { prepareMetrics, startMetrics } from './metrics.js';
import { provisionMetricsInterceptor } from './metrics-activities.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { petrelHome, temporalConfigFromEnv } from './temporal-config.js';
import { workerTracing, type WorkerTracing } from './tracing.js';
import { PLAIN_BUNDLE, TRACED_BUNDLE } from './tracing-env.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The prebuilt bundle when `npm run build` made one; bundling at start-up costs seconds. With
 * tracing on, the bundle that has the tracing interceptors (or those bundled in at start-up).
 */
function workflowSource(tracing?: WorkerTracing): { workflowBundle: { codePath: string } } | { workflowsPath: string; interceptors?: { workflowModules: string[] } } {
  const bundle = path.join(here, '..', tracing ? TRACED_BUNDLE : PLAIN_BUNDLE);
  if (fs.existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: path.join(here, '..', 'workflows', 'index.js'), ...(tracing ? { interceptors: { workflowModules: tracing.workflowModules } } : {}) };
}

/**
 * The embedded server's UI decodes payloads through this worker (it holds the keys): served on
 * the port the home recorded, for the UI's origin only, on loopback. It never encodes.
 */
async function embeddedCodecEndpoint(home: string, keys: CodecKeyring): Promise<CodecServer | undefined> {
  const record = readEmbeddedRecord(home);
  if (!record?.codecPort) return undefined;
  try {
    return await startCodecServer({ keys, port: record.codecPort, origins: [`http://127.0.0.1:${record.uiPort}`, `http://localhost:${record.uiPort}`] });
  } catch (err) {
    console.error(`petrel worker: no codec endpoint for the UI on port ${record.codecPort}: ${(err as Error).message}`);
    return undefined;
  }
}

export async function runWorker(opts: { onReady?: () => void } = {}): Promise<void> {
  const config = temporalConfigFromEnv();
  const home = petrelHome();
  // Before connecting: without its keys a worker could only refuse every task.
  const keys = loadKeyring(home);
  // Both before connecting: the SDK's own metrics must be asked for before its runtime starts.
  const metricsSetup = await prepareMetrics({ home, embedded: config.embedded, temporalPort: Number(config.address.split(':').pop()) || undefined });
  const tracing = await workerTracing();
  const connection = await NativeConnection.connect({ address: config.address, tls: config.tls, apiKey: config.apiKey });
  const codecEndpoint = config.embedded ? await embeddedCodecEndpoint(home, keys) : undefined;
  let metrics: Awaited<ReturnType<typeof startMetrics>>;
  try {
    const added = await ensureSearchAttributes(connection, config.namespace);
    if (added.length > 0) console.error(`petrel worker: registered search attributes ${added.join(', ')}`);
    const metricsClient = new Client({ connection, namespace: config.namespace, dataConverter: petrelDataConverter(keys) });
    metrics = metricsSetup ? await startMetrics(metricsSetup, { home, client: metricsClient, embedded: config.embedded }) : undefined;
    const source = workflowSource(tracing);
    const worker = await Worker.create({
      connection,
      namespace: config.namespace,
      taskQueue: TASK_QUEUE,
      ...source,
      // Every payload is encrypted; one this worker cannot decrypt fails its task, unrun.
      dataConverter: petrelDataConverter(keys),
      activities: { ...createClusterActivities({ home }), ...createJobActivities({ home }), ...createPhaseWatchActivities({ home }), ...sharedQueueActivities(home) },
      // Lets a run activity notice the shutdown and leave the job running for the next worker.
      shutdownGraceTime: '2s',
      maxConcurrentActivityTaskExecutions: 2000,
      // A job waiting for its watcher's signal needs no cached workflow state; a small cache
      // keeps a worker with ten thousand running jobs small (evicted ones replay on demand).
      maxCachedWorkflows: Number(process.env.PETREL_WORKER_MAX_CACHED_WORKFLOWS ?? 200),
      interceptors: {
        ...('interceptors' in source ? source.interceptors : {}),
        activity: [provisionMetricsInterceptor, ...(tracing?.interceptors.activity ?? [])],
      },
      ...(tracing ? { sinks: tracing.sinks } : {}),
    });
    console.error(
      `petrel worker: polling task queue '${TASK_QUEUE}' on ${config.address} (namespace ${config.namespace}), PETREL_HOME=${home}, codec key ${keys.current.id} (${keys.source})`,
    );
    const own = await createOwnQueueWorker({ connection, namespace: config.namespace, dataConverter: petrelDataConverter(keys), home, workflows: source, tracing });
    console.error(`petrel worker: and its own task queue '${own.identity.queue}' (this host and PETREL_HOME: log archive, local nodes)`);
    opts.onReady?.();
    await runAlongside(worker, own.worker);
  } finally {
    await metrics?.close();
    await tracing?.shutdown();
    await codecEndpoint?.close();
    await connection.close();
  }
}

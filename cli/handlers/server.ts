// Handler of `petrel server start|stop|status` and `petrel worker`: the embedded Temporal server and worker.
import { TASK_QUEUE } from '../../core/names.js';
import type { CliContext } from '../context.js';
import { embeddedLogFiles, embeddedStatus, ensureEmbedded, stopEmbedded } from '../embedded/server.js';
import { UserError } from '../errors.js';


function requireEmbedded(ctx: CliContext, what: string): void {
  if (!ctx.config.embedded) {
    throw new UserError(`TEMPORAL_ADDRESS is set (${ctx.config.address}): Petrel uses that cluster and manages no server; unset it to ${what} the embedded one`);
  }
}

export async function start(ctx: CliContext): Promise<number> {
  requireEmbedded(ctx, 'start');
  const started = await ensureEmbedded(ctx.home, (l) => ctx.note(l));
  const s = await embeddedStatus(ctx.home);
  ctx.line(started.length > 0 ? `Started ${started.join(' and ')}.` : 'Already running.');
  ctx.line(`Temporal: ${s.address}   UI: ${s.uiUrl}`);
  return 0;
}

export async function stop(ctx: CliContext): Promise<number> {
  requireEmbedded(ctx, 'stop');
  const stopped = await stopEmbedded(ctx.home);
  ctx.line(`Worker: ${stopped.worker ? `stopped (pid ${stopped.worker})` : 'was not running'}`);
  ctx.line(`Temporal server: ${stopped.server ? `stopped (pid ${stopped.server})` : 'was not running'}`);
  return 0;
}

/** Pollers the server saw on the task queue in the last minute. */
async function pollers(ctx: CliContext): Promise<number | undefined> {
  const { Connection } = await import('@temporalio/client');
  const { temporal } = (await import('@temporalio/proto')).default;
  const connection = await Connection.connect({ address: ctx.config.address, tls: ctx.config.tls, apiKey: ctx.config.apiKey, connectTimeout: 2000 });
  try {
    const res = await connection.workflowService.describeTaskQueue({
      namespace: ctx.config.namespace,
      taskQueue: { name: TASK_QUEUE },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    const cutoff = Date.now() - 60_000;
    return (res.pollers ?? []).filter((p) => Number(p.lastAccessTime?.seconds ?? 0) * 1000 >= cutoff).length;
  } finally {
    await connection.close();
  }
}

export async function status(ctx: CliContext, flags: { json?: boolean }): Promise<number> {
  if (!ctx.config.embedded) {
    const n = await pollers(ctx).catch(() => undefined);
    const result = { mode: 'external', address: ctx.config.address, namespace: ctx.config.namespace, workerPollers: n ?? null };
    if (flags.json) ctx.line(JSON.stringify(result, null, 2));
    else ctx.line(`Temporal: ${result.address} (namespace ${result.namespace}, from TEMPORAL_ADDRESS)\nWorkers polling '${TASK_QUEUE}': ${n ?? 'unknown (cannot reach the server)'}`);
    return n === undefined ? 1 : 0;
  }
  const s = await embeddedStatus(ctx.home);
  const n = s.serverAnswers ? await pollers(ctx).catch(() => undefined) : undefined;
  const logs = embeddedLogFiles(ctx.home);
  const result = {
    mode: 'embedded',
    address: s.address,
    uiUrl: s.uiUrl,
    codecUrl: s.codecUrl ?? null,
    server: { running: s.serverAnswers, pid: s.serverPid ?? null, db: s.dbFile, log: logs.server },
    worker: { running: s.workerPid !== undefined, pid: s.workerPid ?? null, polling: (n ?? 0) > 0, log: logs.worker },
  };
  if (flags.json) {
    ctx.line(JSON.stringify(result, null, 2));
  } else {
    ctx.line(`Temporal server: ${s.serverAnswers ? `running on ${s.address}` : 'not running'}${s.serverPid ? ` (pid ${s.serverPid})` : ''}`);
    ctx.line(`Temporal UI:     ${s.serverAnswers ? s.uiUrl : '-'}${s.serverAnswers && s.codecUrl ? ` (decodes payloads through ${s.codecUrl}, served by the worker)` : ''}`);
    ctx.line(`Database:        ${s.dbFile}`);
    ctx.line(`Petrel worker:   ${s.workerPid ? `running (pid ${s.workerPid})` : 'not running'}, ${result.worker.polling ? 'polling' : 'not polling'} task queue '${TASK_QUEUE}'`);
    ctx.line(`Logs:            ${logs.server}, ${logs.worker}`);
  }
  return s.serverAnswers && result.worker.running ? 0 : 1;
}

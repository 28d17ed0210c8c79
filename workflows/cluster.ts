// The cluster entity workflow (id `cluster/<name>`): provision once, then run the cluster's
// job queue until `down`, autostop or cancellation; teardown always runs.
import {
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ClusterHandle, ClusterJobStatus, ClusterStatus, WorkerRef } from '../core/cluster-state.js';
import { isTerminalJobStatus } from '../core/cluster-state.js';
import { COST_MEMO_KEY } from '../core/cost.js';
import { placementLabel } from '../core/failover.js';
import { FAILURE_TYPES } from '../core/failures.js';
import { clusterJobTaskId } from '../core/job-env.js';
import { activities, SHORT, TEARDOWN } from './activity-options.js';
import { cancelJobUpdate, clusterStatusQuery, downUpdate, setAutostopUpdate, submitJobUpdate } from './cluster-messages.js';
import type { ClusterCarriedState, ClusterView, ClusterWorkflowInput, JobRequest, JobView } from './cluster-types.js';
import { errorMessage, failureDetail, failureType } from './failure-info.js';
import { PhaseInbox, recordLogWorker, runPhase } from './job-phase.js';
import { runToCompletion } from './uninterruptible.js';
import { clusterSearchAttributes } from './search-attributes.js';
import { nowIso } from './workflow-time.js';
import { describeCluster } from './job-details.js';

export async function clusterWorkflow(input: ClusterWorkflowInput, carried?: ClusterCarriedState): Promise<ClusterView> {
  const view: ClusterView = carried?.view ?? {
    name: input.clusterName,
    status: 'INIT',
    provider: input.provider,
    region: input.region,
    resourcesSummary: input.resourcesSummary,
    launchedAt: nowIso(),
    autostop: input.autostop,
    jobs: [],
  };
  let nextJobId = carried?.nextJobId ?? 1;
  const pending: Array<{ id: number; request: JobRequest }> = carried?.pending ?? [];
  let downRequested = false;
  let running: { id: number; scope: CancellationScope; key?: string } | undefined;

  const setStatus = (status: ClusterStatus) => {
    const was = view.status;
    view.status = status;
    upsertSearchAttributes(clusterSearchAttributes(input, status));
    if (status !== was && (status === 'UP' || status === 'STOPPED' || status === 'TERMINATED')) recordBilling(status === 'UP');
    // What the Temporal UI shows for this cluster now (not a command: replay is unaffected).
    setCurrentDetails(describeCluster(view));
  };

  /** Machines billed while UP (a stopped VM's instance hours stop): spans in the memo `petrel cost-report` reads. */
  function recordBilling(running: boolean): void {
    const price = view.handle?.price;
    if (!price || price.hourly <= 0) return;
    const spans = (view.billing ??= []);
    const open = spans.at(-1);
    if (open && !open.endedAt) open.endedAt = nowIso();
    if (running) {
      spans.push({ infra: placementLabel({ cloud: input.provider, region: view.handle?.region, zone: view.handle?.zone }), instanceType: price.instanceType, spot: price.spot, nodes: view.handle?.nodes.length ?? input.numNodes, hourlyPrice: price.hourly, startedAt: nowIso() });
    }
    if (patched('cost-memo')) upsertMemo({ [COST_MEMO_KEY]: { spans } });
  }
  const jobById = (id: number) => view.jobs.find((j) => j.id === id);

  setHandler(clusterStatusQuery, () => view);
  const inbox = new PhaseInbox();

  setHandler(
    submitJobUpdate,
    (request) => {
      const id = nextJobId++;
      view.jobs.push({
        id,
        name: request.name,
        status: 'PENDING',
        taskId: clusterJobTaskId(Date.now(), input.clusterName, id),
        numNodes: request.numNodes ?? input.numNodes,
        submittedAt: nowIso(),
        logKeys: {},
      });
      pending.push({ id, request });
      return { jobId: id };
    },
    {
      validator: (request) => {
        if (downRequested || view.status === 'TERMINATING' || view.status === 'TERMINATED') {
          throw new Error(`cluster ${input.clusterName} is being torn down`);
        }
        if ((request.numNodes ?? input.numNodes) > input.numNodes) {
          throw new Error(`the job asks for ${request.numNodes} nodes but cluster ${input.clusterName} has ${input.numNodes}`);
        }
      },
    },
  );

  setHandler(
    cancelJobUpdate,
    async (id) => {
      const job = jobById(id)!;
      if (isTerminalJobStatus(job.status)) return job;
      const queued = pending.findIndex((p) => p.id === id);
      if (queued >= 0) {
        pending.splice(queued, 1);
        finishJob(job, 'CANCELLED', 'cancelled before it started');
        return job;
      }
      if (running?.id === id) {
        job.message = 'cancelled by user';
        const key = running.key;
        running.scope.cancel();
        if (key && view.handle) {
          // Kill the processes now rather than waiting for the activity to see the cancel.
          await activities(SHORT, `cancel job ${id}`).signalJob({ handle: view.handle, key, signal: 'SIGTERM' });
        }
        await condition(() => isTerminalJobStatus(job.status));
      }
      return job;
    },
    {
      validator: (id) => {
        if (!jobById(id)) throw new Error(`cluster ${input.clusterName} has no job ${id}`);
      },
    },
  );

  setHandler(downUpdate, () => {
    downRequested = true;
    running?.scope.cancel();
  });

  setHandler(setAutostopUpdate, (autostop) => {
    view.autostop = autostop ?? undefined;
  });

  function finishJob(job: JobView, status: ClusterJobStatus, message?: string) {
    job.status = status;
    job.endedAt = nowIso();
    if (message && !job.message) job.message = message;
    setCurrentDetails(describeCluster(view));
  }

  function phase(handle: ClusterHandle, job: JobView, request: JobRequest, which: 'setup' | 'run', script: string) {
    const key = `${job.id}-${which}`;
    job.logKeys[which] = key;
    if (running) running.key = key;
    return runPhase({
      handle,
      key,
      phase: which,
      script,
      taskId: job.taskId,
      numNodes: job.numNodes,
      envs: request.envs,
      sealedSecrets: request.sealedSecrets,
      gpusPerNode: request.gpusPerNode,
      withWorkdir: !!request.workdir,
      summary: `${which} job ${job.id} on ${job.numNodes} node(s)`,
    }, inbox);
  }

  async function runJob(handle: ClusterHandle, id: number, request: JobRequest): Promise<void> {
    const job = jobById(id)!;
    const scope = new CancellationScope();
    running = { id, scope };
    try {
      await scope.run(async () => {
        job.startedAt = nowIso();
        if (request.workdir || request.fileMounts) {
          job.syncing = true;
          await activities(SHORT, `sync workdir and file mounts to ${handle.nodes.length} node(s)`).syncWorkdir({ handle, localDir: request.workdir, fileMounts: request.fileMounts });
          job.syncing = false;
        }
        if (request.setup) {
          job.status = 'SETTING_UP';
          const setup = await phase(handle, job, request, 'setup', request.setup);
          recordLogWorker(job, 'setup', setup.archivedBy);
          if (setup.exitCode !== 0) {
            job.exitCodes = setup.exitCodes;
            job.exitCode = setup.exitCode;
            finishJob(job, 'FAILED_SETUP', `setup exited with ${setup.exitCode ?? 'no exit code (process killed)'}`);
            return;
          }
        }
        job.status = 'RUNNING';
        const run = request.run ? await phase(handle, job, request, 'run', request.run) : { exitCodes: [0], exitCode: 0 };
        if (request.run) recordLogWorker(job, 'run', run.archivedBy);
        job.exitCodes = run.exitCodes;
        job.exitCode = run.exitCode;
        if (job.message === 'cancelled by user') finishJob(job, 'CANCELLED');
        else if (run.exitCode === 0) finishJob(job, 'SUCCEEDED');
        else finishJob(job, 'FAILED', `exit code ${run.exitCode ?? 'missing (process killed)'}`);
      });
    } catch (err) {
      if (isCancellation(err)) finishJob(job, 'CANCELLED', downRequested ? 'cluster torn down' : 'cancelled by user');
      else if (failureType(err) === FAILURE_TYPES.preempted) {
        recordLogWorker(job, job.logKeys.run ? 'run' : 'setup', failureDetail<WorkerRef>(err, 1));
        finishJob(job, 'FAILED_DRIVER', `node lost: ${errorMessage(err)}`);
      } else {
        finishJob(job, 'FAILED_DRIVER', errorMessage(err));
      }
    } finally {
      running = undefined;
    }
  }

  let continuing = false;
  try {
    let handle: ClusterHandle;
    if (view.handle) handle = view.handle;
    else {
      setStatus('INIT');
      handle = await runToCompletion(
        () =>
          activities(SHORT, `provision ${input.provider}${input.region ? '/' + input.region : ''}, ${input.numNodes} node(s)`).provisionCluster({
            provider: input.provider,
            clusterName: input.clusterName,
            numNodes: input.numNodes,
            region: input.region,
            zone: input.zone,
            useSpot: input.useSpot,
            accelerators: input.accelerators,
            cpus: input.cpus,
            memoryGb: input.memoryGb,
            idempotencyKey: workflowInfo().workflowId,
            user: input.user,
            ...(input.imageId ? { imageId: input.imageId } : {}),
            ...(input.labels && Object.keys(input.labels).length ? { labels: input.labels } : {}),
            ...(input.instanceType ? { instanceType: input.instanceType } : {}),
            ...(input.ports?.length ? { ports: input.ports } : {}),
            ...(input.diskSizeGb !== undefined ? { diskSizeGb: input.diskSizeGb } : {}),
          }),
        () => undefined,
        (provisioned) => (view.handle = provisioned),
      );
      view.region = handle.region;
      setStatus('UP');
      // `petrel status` lists clusters from visibility alone: where exactly, and the infra's name for it
      if (patched('placement-memo')) upsertMemo({ zone: handle.zone ?? null, label: handle.label ?? null });
    }
    for (;;) {
      if (downRequested) break;
      const next = pending.shift();
      if (next) {
        if (view.status === 'STOPPED') {
          handle = view.handle = await activities(SHORT, 'start cluster').startCluster(handle);
          setStatus('UP');
        }
        await runJob(handle, next.id, next.request);
        continue;
      }
      if (workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        continuing = true;
        await continueAsNew<typeof clusterWorkflow>(input, { view, nextJobId, pending });
      }
      const autostop = view.autostop;
      const idleMs = autostop && view.status === 'UP' ? autostop.idleMinutes * 60_000 : undefined;
      const hasWork = () => pending.length > 0 || downRequested;
      const woke = idleMs === undefined ? await condition(hasWork).then(() => true) : idleMs === 0 ? hasWork() : await condition(hasWork, idleMs);
      if (woke) continue;
      if (!autostop) continue;
      if (autostop.down) break;
      await activities(SHORT, 'autostop: stop cluster').stopCluster(handle);
      setStatus('STOPPED');
    }
  } catch (err) {
    if (!continuing && !isCancellation(err)) view.lastError = errorMessage(err);
    throw err;
  } finally {
    // continue-as-new hands the live cluster to the next run: nothing to tear down.
    if (!continuing) await CancellationScope.nonCancellable(async () => {
      for (const p of pending.splice(0)) {
        if (view.lastError) finishJob(jobById(p.id)!, 'FAILED_DRIVER', `the cluster failed: ${view.lastError}`);
        else finishJob(jobById(p.id)!, 'CANCELLED', 'cluster torn down');
      }
      setStatus('TERMINATING');
      // Torn down while still provisioning: the provider finds the nodes by name.
      const last = view.handle ?? (patched('terminate-by-name') ? { provider: input.provider, clusterName: input.clusterName, region: input.region, nodes: [] } : undefined);
      if (last) await activities(TEARDOWN, `terminate ${input.provider} cluster ${input.clusterName}`).terminateCluster(last);
      setStatus('TERMINATED');
      await condition(allHandlersFinished);
    });
  }
  return view;
}

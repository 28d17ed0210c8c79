// The managedJob workflow (id `job/<id>`): launch somewhere that fits, run, and when the
// machines are taken away (or the job fails in a way it may retry), tear down and launch
// again elsewhere, until the job ends. Statuses and recovery rules are SkyPilot's; every
// decision is in history, so the UI shows each region tried and why it was left.
import { CancellationScope, isCancellation, setHandler, sleep, upsertSearchAttributes } from '@temporalio/workflow';
import type { RunOnNodesResult } from '../activities/cluster-activities.js';
import { blockFor, nextPlacement, passBackoffMs, placementLabel, type Placement, type PlacementCandidate } from '../core/failover.js';
import { FAILURE_TYPES, type CapacityScope } from '../core/failures.js';
import { managedJobTaskId } from '../core/job-env.js';
import type { AttemptOutcome, ManagedJobStatus } from '../core/managed-job-state.js';
import { activities, SHORT, TEARDOWN } from './activity-options.js';
import type { WorkerRef } from '../core/cluster-state.js';
import { errorMessage, failureDetail, failureDetails, failureType } from './failure-info.js';
import { PhaseInbox, recordLogWorker, runPhase } from './job-phase.js';
import { runToCompletion } from './uninterruptible.js';
import { managedJobStatusQuery } from './managed-job-messages.js';
import type { AttemptView, ManagedJobInput, ManagedJobView } from './managed-job-types.js';
import { jobSearchAttributes } from './search-attributes.js';
import { nowIso } from './workflow-time.js';

/** Full passes over every placement before a launch gives up (without --retry-until-up). */
const MAX_PASSES = 3;

/** Thrown inside the workflow when the job reached a terminal status on purpose. */
class JobEnded extends Error {}

export async function managedJobWorkflow(input: ManagedJobInput): Promise<ManagedJobView> {
  const view: ManagedJobView = {
    jobId: input.jobId,
    name: input.name,
    user: input.user,
    status: 'PENDING',
    taskId: managedJobTaskId(Date.now(), input.name, input.jobId),
    submittedAt: nowIso(),
    recoveries: 0,
    restartsOnErrors: 0,
    resourcesSummary: input.resourcesSummary,
    attempts: [],
    blocked: [],
    placements: [],
  };
  /** the attempt whose cluster currently exists */
  let live: AttemptView | undefined;

  setHandler(managedJobStatusQuery, () => view);
  const inbox = new PhaseInbox();

  const setStatus = (status: ManagedJobStatus, message?: string) => {
    view.status = status;
    if (message !== undefined) view.message = message;
    const where = live ?? view.attempts.at(-1);
    upsertSearchAttributes(jobSearchAttributes(input, status, where, view.recoveries));
  };

  const end = (status: ManagedJobStatus, message?: string): never => {
    setStatus(status, message);
    throw new JobEnded(message);
  };

  async function teardownLive(outcome?: AttemptOutcome, reason?: string): Promise<void> {
    const attempt = live;
    if (!attempt) return;
    if (outcome && attempt.outcome === 'running') {
      attempt.outcome = outcome;
      attempt.reason ??= reason;
    }
    attempt.endedAt ??= nowIso();
    // Without a handle (cancelled while provisioning) the provider finds the nodes by name.
    const handle = attempt.handle ?? { provider: attempt.cloud, clusterName: attempt.clusterName, region: attempt.region, zone: attempt.zone, nodes: [] };
    await activities(TEARDOWN, `terminate ${placementLabel(attempt)} cluster ${attempt.clusterName}`).terminateCluster(handle);
    live = undefined;
  }

  /** Provision somewhere that fits, walking placements and blocking what fails. */
  async function launch(avoid?: Placement): Promise<AttemptView> {
    view.blocked = [];
    for (let pass = 1; ; ) {
      const placement = nextPlacement(view.placements, view.blocked, input.recovery.strategy, avoid);
      if (!placement) {
        if (!input.retryUntilUp && pass >= MAX_PASSES) end('FAILED_NO_RESOURCE', noResourceTable(view));
        await sleep(passBackoffMs(pass));
        pass++;
        view.blocked = [];
        continue;
      }
      const attempt = await provisionAt(placement);
      if (attempt) return attempt;
    }
  }

  async function provisionAt(placement: PlacementCandidate): Promise<AttemptView | undefined> {
    const candidate = input.candidates[placement.candidate]!;
    const attempt: AttemptView = {
      attempt: view.attempts.length + 1,
      cloud: placement.cloud,
      region: placement.region,
      zone: placement.zone,
      clusterName: `job-${input.jobId}-${view.attempts.length + 1}`,
      nodeIds: [],
      startedAt: nowIso(),
      outcome: 'running',
    };
    view.attempts.push(attempt);
    live = attempt; // from here on, teardown covers it even if provisioning is interrupted
    try {
      await runToCompletion(
        () =>
          activities(SHORT, `provision ${placementLabel(placement)}, ${input.numNodes} node(s)`).provisionCluster({
            provider: placement.cloud,
            clusterName: attempt.clusterName,
            numNodes: input.numNodes,
            region: placement.region,
            zone: placement.zone,
            useSpot: candidate.useSpot,
            accelerators: candidate.accelerators,
            cpus: candidate.cpus,
            memoryGb: candidate.memoryGb,
            idempotencyKey: `job/${input.jobId}/${attempt.attempt}`,
            user: input.user,
            ...(candidate.imageId ? { imageId: candidate.imageId } : {}),
            ...(Object.keys(candidate.labels ?? {}).length ? { labels: candidate.labels } : {}),
          }),
        () => setStatus('CANCELLING'),
        (handle) => (attempt.handle = handle),
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      const type = failureType(err);
      attempt.endedAt = nowIso();
      attempt.reason = errorMessage(err);
      // A typed refusal created nothing; anything else stays `live` so teardown covers it.
      if (type === FAILURE_TYPES.capacity || type === FAILURE_TYPES.quota || type === FAILURE_TYPES.config) live = undefined;
      if (type === FAILURE_TYPES.capacity || type === FAILURE_TYPES.quota) {
        attempt.outcome = type === FAILURE_TYPES.capacity ? 'no_capacity' : 'quota';
        const scope = failureDetails<{ scope?: CapacityScope }>(err)?.scope ?? 'region';
        view.blocked.push(blockFor(placement, scope, attempt.reason));
        return undefined;
      }
      if (type === FAILURE_TYPES.config) {
        attempt.outcome = 'precheck_failed';
        end('FAILED_PRECHECKS', `${placementLabel(placement)}: ${attempt.reason}`);
      }
      attempt.outcome = 'error';
      throw err;
    }
    attempt.nodeIds = attempt.handle!.nodes.map((n) => n.id);
    setStatus(view.status); // infra and region of the new attempt
    if (input.workdir || input.fileMounts) {
      await activities(SHORT, `sync workdir and file mounts to ${input.numNodes} node(s)`).syncWorkdir({
        handle: attempt.handle!,
        localDir: input.workdir,
        fileMounts: input.fileMounts,
      });
    }
    return attempt;
  }

  function phase(attempt: AttemptView, which: 'setup' | 'run', script: string): Promise<RunOnNodesResult> {
    const key = `${input.jobId}-${attempt.attempt}-${which}`;
    if (which === 'run') attempt.runKey = key;
    else attempt.setupKey = key;
    return runPhase({
      handle: attempt.handle!,
      key,
      phase: which,
      script,
      taskId: view.taskId,
      numNodes: input.numNodes,
      envs: input.envs,
      sealedSecrets: input.sealedSecrets,
      gpusPerNode: input.gpusPerNode,
      withWorkdir: !!input.workdir,
      unreachableGraceSeconds: input.unreachableGraceSeconds,
      summary: `${which} of job ${input.jobId} on ${placementLabel(attempt)} (attempt ${attempt.attempt})`,
    }, inbox);
  }

  /** Runs setup and the task on a launched attempt; returns where to recover from, or ends the job. */
  async function runAttempt(attempt: AttemptView): Promise<{ avoid?: Placement }> {
    if (input.setup) {
      const setup = await phase(attempt, 'setup', input.setup);
      recordLogWorker(attempt, 'setup', setup.archivedBy);
      if (setup.exitCode !== 0) {
        attempt.exitCode = setup.exitCode;
        await teardownLive('setup_failed', `setup exited with ${setup.exitCode ?? 'no exit code'}`);
        end('FAILED_SETUP', `setup exited with ${setup.exitCode ?? 'no exit code (process killed)'}`);
      }
    }
    setStatus('RUNNING');
    attempt.runningAt = nowIso();
    view.startedAt ??= nowIso();
    let run: RunOnNodesResult;
    try {
      run = input.run ? await phase(attempt, 'run', input.run) : { exitCodes: [0], exitCode: 0 };
      if (input.run) recordLogWorker(attempt, 'run', run.archivedBy);
    } catch (err) {
      if (failureType(err) !== FAILURE_TYPES.preempted) throw err;
      recordLogWorker(attempt, 'run', failureDetail<WorkerRef>(err, 1));
      // A watched phase says when its workflow learned of the loss; the old per-job activity did not.
      attempt.endedAt ??= failureDetail<string>(err, 2);
      view.recoveries++;
      await teardownLive('preempted', errorMessage(err));
      return { avoid: attempt };
    }
    attempt.exitCode = run.exitCode;
    if (run.exitCode === 0) {
      await teardownLive('succeeded');
      end('SUCCEEDED');
    }
    const code = run.exitCode;
    const { maxRestartsOnErrors, recoverOnExitCodes } = input.recovery;
    if (code !== null && recoverOnExitCodes.includes(code)) {
      view.recoveries++;
      await teardownLive('restarted', `exit code ${code} is in recover_on_exit_codes`);
      return {};
    }
    if (view.restartsOnErrors < maxRestartsOnErrors) {
      view.restartsOnErrors++;
      view.recoveries++;
      await teardownLive('restarted', `exit code ${code ?? 'missing'}; restart ${view.restartsOnErrors} of ${maxRestartsOnErrors} (max_restarts_on_errors)`);
      return {};
    }
    await teardownLive('failed', `exit code ${code ?? 'missing (process killed)'}`);
    return end('FAILED', `exit code ${code ?? 'missing (process killed)'}`);
  }

  let cancelled = false;
  try {
    setStatus('PENDING');
    view.placements = await activities(SHORT, 'plan placements').planPlacements(input.candidates);
    if (view.placements.length === 0) end('FAILED_PRECHECKS', 'no infra offers a placement for this task');
    setStatus('STARTING');
    let avoid: Placement | undefined;
    for (;;) {
      const attempt = await launch(avoid);
      ({ avoid } = await runAttempt(attempt));
      setStatus('RECOVERING');
    }
  } catch (err) {
    if (isCancellation(err)) cancelled = true;
    else if (!(err instanceof JobEnded)) {
      // Anything we did not foresee: the job ends, its machines do not outlive it.
      setStatus('FAILED_CONTROLLER', errorMessage(err));
    }
    if (cancelled) throw err;
  } finally {
    await CancellationScope.nonCancellable(async () => {
      if (cancelled) setStatus('CANCELLING');
      await teardownLive(cancelled ? 'cancelled' : 'error', cancelled ? 'job cancelled' : view.message);
      if (cancelled) setStatus('CANCELLED', 'cancelled by user');
      view.endedAt = nowIso();
    });
  }
  return view;
}

function noResourceTable(view: ManagedJobView): string {
  const tried = view.attempts.filter((a) => a.outcome === 'no_capacity' || a.outcome === 'quota');
  const rows = tried.map((a) => `  attempt ${a.attempt}  ${placementLabel(a).padEnd(28)}  ${a.reason ?? a.outcome}`);
  return [`no placement had capacity after ${MAX_PASSES} passes over ${view.placements.length} placement(s):`, ...rows].join('\n');
}

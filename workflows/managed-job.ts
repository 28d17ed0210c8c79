// The managedJob workflow (id `job/<id>`): launch somewhere that fits, run, and when the
// machines are taken away (or the job fails in a way it may retry), tear down and launch
// again elsewhere, until the job ends. Statuses and recovery rules are SkyPilot's; every
// decision is in history, so the UI shows each region tried and why it was left.
import { CancellationScope, condition, isCancellation, patched, setCurrentDetails, setHandler, sleep, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import { GroupMembership, PipelineNotifier, stepEnv, stepTaskId } from './pipeline-step.js';
import type { RunOnNodesResult } from '../activities/cluster-activities.js';
import { budgetRunsOutAt, COST_MEMO_KEY, formatUsd, totalCost } from '../core/cost.js';
import { billedSpans } from './attempt-cost.js';
import { blockFor, isBlocked, nextPlacement, passBackoffMs, placementLabel, type Placement, type PlacementCandidate } from '../core/failover.js';
import { FAILURE_TYPES, type CapacityScope } from '../core/failures.js';
import { managedJobTaskId } from '../core/job-env.js';
import type { AttemptOutcome, ManagedJobStatus } from '../core/managed-job-state.js';
import { activities, SHORT, TEARDOWN } from './activity-options.js';
import type { NodeStatus, WorkerRef } from '../core/cluster-state.js';
import { errorMessage, failureDetail, failureDetails, failureType } from './failure-info.js';
import { PhaseInbox, recordLogWorker, runPhase } from './job-phase.js';
import { CheckpointFailed, JobCheckpoints } from './job-checkpoints.js';
import { JobStorage, StorageMountFailed } from './job-storage.js';
import { runToCompletion } from './uninterruptible.js';
import { managedJobStatusQuery } from './managed-job-messages.js';
import type { AttemptView, ManagedJobInput, ManagedJobView } from './managed-job-types.js';
import { jobSearchAttributes } from './search-attributes.js';
import { nowIso } from './workflow-time.js';
import { describeManagedJob } from './job-details.js';

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
    taskId: input.step ? stepTaskId(input.step) : managedJobTaskId(Date.now(), input.name, input.jobId),
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

  // --max-cost: while an attempt's machines exist, a durable timer set for when their spend
  // (on top of what earlier attempts spent) would pass the budget.
  let budgetAt: number | undefined;
  let budgetSeq = 0;
  const budget = {
    attemptStarted(a: AttemptView): void {
      if (input.maxCostUsd === undefined) return;
      const spent = totalCost(billedSpans(view.attempts.filter((x) => x !== a)), Date.now());
      budgetAt = budgetRunsOutAt(spent, (a.hourlyPrice ?? 0) * input.numNodes, Date.now(), input.maxCostUsd);
      budgetSeq++;
    },
    attemptEnded(): void {
      if (budgetAt === undefined) return;
      budgetAt = undefined;
      budgetSeq++;
    },
  };
  async function watchBudget(onExceeded: () => void): Promise<void> {
    for (;;) {
      const seq = budgetSeq;
      if (budgetAt === undefined) {
        await condition(() => budgetSeq !== seq);
        continue;
      }
      if (!(await condition(() => budgetSeq !== seq, Math.max(1, budgetAt - Date.now())))) return onExceeded();
    }
  }

  setHandler(managedJobStatusQuery, () => view);
  const inbox = new PhaseInbox();
  // A job group's member waits for the group's hostnames before its setup, and rewrites them
  // on its nodes whenever another member moves.
  const group = input.step?.group ? new GroupMembership(input.step, (m) => (view.message = m)) : undefined;
  const pipeline = input.step ? new PipelineNotifier(input.step) : undefined;
  const checkpoints = input.checkpoint ? new JobCheckpoints(input.checkpoint, view.taskId, input.step ? `job ${input.jobId} task ${input.step.index}` : `job ${input.jobId}`) : undefined;
  if (checkpoints) view.checkpoint = checkpoints.view;
  const storage = input.storageMounts?.length ? new JobStorage(input.storageMounts, input.step ? `job ${input.jobId} task ${input.step.index}` : `job ${input.jobId}`) : undefined;
  if (storage) view.storage = storage.view;
  /** Cluster names, provision keys and phase keys: a pipeline's steps must not share them. */
  const prefix = input.step?.clusterPrefix ?? `job-${input.jobId}`;

  const setStatus = (status: ManagedJobStatus, message?: string) => {
    view.status = status;
    if (message !== undefined) view.message = message;
    const where = live ?? view.attempts.at(-1);
    upsertSearchAttributes(jobSearchAttributes(input, status, where, view.recoveries));
    recordCost();
    // What the Temporal UI shows for this job now (not a command: replay is unaffected).
    setCurrentDetails(describeManagedJob(view, Date.now()));
    pipeline?.notify(view, live);
  };

  /** What each attempt's machines cost so far, in the memo `petrel cost-report` reads from one listing. */
  function recordCost(): void {
    const spans = billedSpans(view.attempts);
    view.spentUsd = totalCost(spans.filter((s) => s.endedAt), Date.now());
    if (spans.length > 0 && patched('cost-memo')) upsertMemo({ [COST_MEMO_KEY]: { spans } });
  }

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
    budget.attemptEnded();
    await group?.leave();
    await activities(TEARDOWN, `terminate ${placementLabel(attempt)} cluster ${attempt.clusterName}`).terminateCluster(handle);
    live = undefined;
  }

  /** Provision somewhere that fits, walking placements and blocking what fails. */
  async function launch(avoid?: Placement): Promise<AttemptView> {
    view.blocked = view.blocked.filter((b) => b.refused);
    for (let pass = 1; ; ) {
      const placement = nextPlacement(view.placements, view.blocked, input.recovery.strategy, avoid);
      if (!placement) {
        const refusals = view.blocked.filter((b) => b.refused);
        if (refusals.length > 0 && view.placements.every((p) => isBlocked(p, refusals))) {
          end('FAILED_PRECHECKS', refusals.map((b) => `${placementLabel(b)}: ${b.reason}`).join('\n'));
        }
        if (!input.retryUntilUp && pass >= MAX_PASSES) end('FAILED_NO_RESOURCE', noResourceTable(view));
        await sleep(passBackoffMs(pass));
        pass++;
        view.blocked = view.blocked.filter((b) => b.refused);
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
      clusterName: `${prefix}-${view.attempts.length + 1}`,
      nodeIds: [],
      startedAt: nowIso(),
      outcome: 'running',
      ...(placement.instanceType ? { instanceType: placement.instanceType } : {}),
      useSpot: placement.useSpot ?? candidate.useSpot,
      ...(placement.hourlyPrice !== undefined ? { hourlyPrice: placement.hourlyPrice } : {}),
      numNodes: input.numNodes,
    };
    view.attempts.push(attempt);
    budget.attemptStarted(attempt);
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
            useSpot: placement.useSpot ?? candidate.useSpot,
            ...(placement.instanceType ? { instanceType: placement.instanceType } : {}),
            ...(candidate.ports.length ? { ports: candidate.ports } : {}),
            ...(candidate.diskSizeGb !== undefined ? { diskSizeGb: candidate.diskSizeGb } : {}),
            accelerators: candidate.accelerators,
            cpus: candidate.cpus,
            memoryGb: candidate.memoryGb,
            idempotencyKey: input.step ? `job/${input.jobId}/${prefix}/${attempt.attempt}` : `job/${input.jobId}/${attempt.attempt}`,
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
      if (type === FAILURE_TYPES.capacity || type === FAILURE_TYPES.quota || type === FAILURE_TYPES.config) {
        live = undefined;
        budget.attemptEnded();
      }
      if (type === FAILURE_TYPES.capacity || type === FAILURE_TYPES.quota) {
        attempt.outcome = type === FAILURE_TYPES.capacity ? 'no_capacity' : 'quota';
        const scope = failureDetails<{ scope?: CapacityScope }>(err)?.scope ?? 'region';
        view.blocked.push(blockFor(placement, scope, attempt.reason));
        return undefined;
      }
      if (type === FAILURE_TYPES.config) {
        attempt.outcome = 'precheck_failed';
        // A cloud that refuses our credentials is blocked like a cloud without capacity: the
        // job may still run elsewhere, and fails its prechecks only when nothing else is left.
        if (failureDetails<{ scope?: CapacityScope }>(err)?.scope === 'cloud') {
          view.blocked.push({ ...blockFor(placement, 'cloud', attempt.reason), refused: true });
          return undefined;
        }
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
    const key = input.step ? `${prefix}-${attempt.attempt}-${which}` : `${input.jobId}-${attempt.attempt}-${which}`;
    if (which === 'run') attempt.runKey = key;
    else attempt.setupKey = key;
    return runPhase({
      handle: attempt.handle!,
      key,
      phase: which,
      script,
      taskId: view.taskId,
      numNodes: input.numNodes,
      envs: input.step ? { ...input.envs, ...stepEnv(input.step) } : input.envs,
      ...(attempt.groupHosts || attempt.checkpointPaths ? { envByRank: perNodeEnv(attempt) } : {}),
      sealedSecrets: input.sealedSecrets,
      gpusPerNode: input.gpusPerNode,
      withWorkdir: !!input.workdir,
      unreachableGraceSeconds: input.unreachableGraceSeconds,
      summary: `${which} of job ${input.jobId} on ${placementLabel(attempt)} (attempt ${attempt.attempt})`,
    }, inbox);
  }

  /** A job group's hostnames and the checkpoint directory differ per node. */
  function perNodeEnv(attempt: AttemptView): Array<Record<string, string>> {
    const hosts = attempt.groupHosts ? group!.envByRank(attempt, input.envs.LD_PRELOAD) : [];
    const ckpt = checkpoints?.envByRank(attempt) ?? [];
    return Array.from({ length: Math.max(hosts.length, ckpt.length) }, (_, i) => ({ ...hosts[i], ...ckpt[i] }));
  }

  /** Runs setup and the task on a launched attempt; returns where to recover from, or ends the job. */
  async function runAttempt(attempt: AttemptView): Promise<{ avoid?: Placement }> {
    if (group) await group.join(attempt);
    // A bucket or checkpoint store that refuses is the task's problem: the job ends, torn down.
    try {
      await storage?.mount(attempt);
      await checkpoints?.restore(attempt);
    } catch (err) {
      if (!(err instanceof StorageMountFailed) && !(err instanceof CheckpointFailed)) throw err;
      await teardownLive('precheck_failed', err.message);
      end('FAILED_PRECHECKS', err.message);
    }
    if (input.setup) {
      const setup = await phase(attempt, 'setup', input.setup);
      recordLogWorker(attempt, 'setup', setup.archivedBy);
      await storage?.end(attempt);
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
    checkpoints?.start(attempt);
    storage?.start(attempt);
    try {
      run = input.run ? await phase(attempt, 'run', input.run) : { exitCodes: [0], exitCode: 0 };
      if (input.run) recordLogWorker(attempt, 'run', run.archivedBy);
    } catch (err) {
      if (failureType(err) !== FAILURE_TYPES.preempted) throw err;
      recordLogWorker(attempt, 'run', failureDetail<WorkerRef>(err, 1));
      // A watched phase says when its workflow learned of the loss; the old per-job activity did not.
      attempt.endedAt ??= failureDetail<string>(err, 2);
      // What the lost nodes still hold (a spot notice gives minutes) is worth one last look,
      // unless they stopped answering altogether.
      const lost = failureDetail<NodeStatus[]>(err, 0) ?? [];
      const nodesAnswer = !(lost.length > 0 && lost.every((n) => n.state === 'gone' && n.reason === 'unreachable'));
      await checkpoints?.end(attempt, { nodesAnswer });
      if (nodesAnswer) await storage?.end(attempt, true);
      view.recoveries++;
      await teardownLive('preempted', errorMessage(err));
      return { avoid: attempt };
    }
    await checkpoints?.end(attempt);
    await storage?.end(attempt);
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
  let overBudget = false;
  try {
    setStatus('PENDING');
    try {
      view.placements = await activities(SHORT, 'plan placements').planPlacements(input.candidates, { ordered: input.ordered ?? true, numNodes: input.numNodes });
    } catch (err) {
      // Nothing can hold the task (the optimizer says why, and what would fit instead).
      if (failureType(err) === FAILURE_TYPES.config) end('FAILED_PRECHECKS', errorMessage(err));
      throw err;
    }
    if (view.placements.length === 0) end('FAILED_PRECHECKS', 'no infra offers a placement for this task');
    setStatus('STARTING');
    const work = new CancellationScope();
    if (input.maxCostUsd !== undefined) {
      // Settles only by cancelling `work`; a user's cancel of the whole job ends it with the rest.
      watchBudget(() => {
        overBudget = true;
        work.cancel();
      }).catch(() => undefined);
    }
    await work.run(async () => {
      let avoid: Placement | undefined;
      for (;;) {
        const attempt = await launch(avoid);
        ({ avoid } = await runAttempt(attempt));
        setStatus('RECOVERING');
      }
    });
  } catch (err) {
    if (isCancellation(err) && overBudget && !CancellationScope.current().consideredCancelled) {
      // the budget's own timer, not the user: ended below like any other terminal status
    } else if (isCancellation(err)) cancelled = true;
    else if (!(err instanceof JobEnded)) {
      // Anything we did not foresee: the job ends, its machines do not outlive it.
      setStatus('FAILED_CONTROLLER', errorMessage(err));
    }
    if (cancelled) throw err;
  } finally {
    await CancellationScope.nonCancellable(async () => {
      if (cancelled) setStatus('CANCELLING');
      // Cancelled (or stopped) mid-run: the run's last state is kept before the nodes go.
      if (checkpoints && live?.runningAt && live.checkpointPaths) await checkpoints.end(live);
      if (storage && live?.runningAt) await storage.end(live, true);
      const budgetNote = `stopped before its spend would pass the --max-cost budget of ${formatUsd(input.maxCostUsd ?? 0)}`;
      await teardownLive(cancelled || overBudget ? 'cancelled' : 'error', cancelled ? 'job cancelled' : overBudget ? budgetNote : view.message);
      // The buckets made for this job (persistent: false) go when it ends, however it ends.
      await storage?.cleanup().catch(() => undefined);
      if (cancelled) setStatus('CANCELLED', 'cancelled by user');
      else if (overBudget) setStatus('FAILED_BUDGET', `${budgetNote} (spent ${formatUsd(totalCost(billedSpans(view.attempts), Date.now()))})`);
      else recordCost();
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

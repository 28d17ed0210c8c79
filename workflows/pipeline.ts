// The pipeline workflow (id `job/<id>`): a multi-document task YAML run as one managed job.
// Serial (SkyPilot's chain DAG): one child managedJob workflow per step, `job/<id>/<index>`,
// each after the previous SUCCEEDED; `jobs resume` starts a new run of the same id that skips
// the steps that already succeeded. Parallel (SkyPilot's job group): every member at once,
// hostnames shared between them, auxiliaries cancelled after the primaries end.
import {
  CancellationScope,
  CancelledFailure,
  ChildWorkflowCancellationType,
  condition,
  isCancellation,
  ParentClosePolicy,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  WorkflowIdReusePolicy,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { managedJobTaskId } from '../core/job-env.js';
import { isTerminalManagedJobStatus, type ManagedJobStatus } from '../core/managed-job-state.js';
import { managedJobWorkflow } from './managed-job.js';
import type { ManagedJobView } from './managed-job-types.js';
import { stepName, stepWorkflowId } from './pipeline-naming.js';
import { groupHostsSignal, pipelineStatusQuery, stepProgressSignal } from './pipeline-messages.js';
import type { GroupHosts, PipelineInput, PipelineView, StepContext, StepProgress, StepView } from './pipeline-types.js';
import { SA } from './search-attributes.js';
import { nowIso } from './workflow-time.js';

/** Thrown inside the workflow when the pipeline reached a terminal status on purpose. */
class PipelineEnded extends Error {}

export async function pipelineWorkflow(input: PipelineInput): Promise<PipelineView> {
  const generation = input.resume?.generation ?? 0;
  const submittedAtMs = input.resume?.submittedAtMs ?? Date.now();
  const names = input.steps.map((s, i) => stepName(input, s.name, i));
  const taskIds = names.map((n, i) => managedJobTaskId(submittedAtMs, `${input.name ?? 'pipeline'}_${n}`, input.jobId, i));
  const parallel = input.execution === 'parallel';
  const primaries = new Set(input.group?.primaryTasks ?? names);
  const view: PipelineView = {
    jobId: input.jobId,
    ...(input.name ? { name: input.name } : {}),
    user: input.user,
    kind: parallel ? 'jobgroup' : 'pipeline',
    status: 'PENDING',
    submittedAt: nowIso(),
    generation,
    steps: input.steps.map((s, i) => {
      const before = input.resume?.steps[i];
      // A resumed run keeps what already succeeded: those steps are not run again.
      if (before?.status === 'SUCCEEDED') return before;
      return {
        index: i,
        name: names[i]!,
        status: 'PENDING',
        resourcesSummary: s.resourcesSummary,
        recoveries: 0,
        ...(parallel ? { role: primaries.has(names[i]!) ? 'primary' : 'auxiliary' } : {}),
      } satisfies StepView;
    }),
  };
  const seqs = new Map<number, number>();
  const group = parallel ? new GroupHostsTable(input.name ?? `group-${input.jobId}`, names) : undefined;
  const handles = new Map<number, ChildWorkflowHandle<typeof managedJobWorkflow>>();
  if (group) view.hosts = group.hosts;

  setHandler(pipelineStatusQuery, () => view);
  setHandler(stepProgressSignal, (p: StepProgress) => {
    const step = view.steps[p.index];
    if (!step || (seqs.get(p.index) ?? 0) >= p.seq || isTerminalStep(step.status)) return;
    seqs.set(p.index, p.seq);
    Object.assign(step, { status: p.status, recoveries: p.recoveries, cloud: p.cloud, region: p.region, message: p.message });
    if (p.status !== 'PENDING') step.startedAt ??= nowIso();
    if (group && p.live && group.placed(p.index, p.live.attempt, p.live.nodeIps)) {
      view.hosts = group.hosts;
      for (const [i, h] of handles) if (!isTerminalStep(view.steps[i]!.status)) h.signal(groupHostsSignal, group.hosts).catch(() => undefined);
    }
    refresh();
  });

  /** The pipeline's own status follows its running steps; the UI's details say which step where. */
  function refresh(status?: ManagedJobStatus): void {
    if (status) view.status = status;
    else {
      const live = view.steps.filter((s) => !isTerminalStep(s.status) && s.status !== 'PENDING');
      const order: ManagedJobStatus[] = ['RECOVERING', 'STARTING', 'RUNNING', 'CANCELLING'];
      view.status = order.find((o) => live.some((s) => s.status === o)) ?? (view.status === 'PENDING' ? 'PENDING' : view.status);
      if (live.length > 0 && view.status === 'PENDING') view.status = 'STARTING';
    }
    const current = view.steps.find((s) => !isTerminalStep(s.status) && s.status !== 'PENDING') ?? view.steps.filter((s) => s.cloud).at(-1);
    upsertSearchAttributes([
      { key: SA.kind, value: 'job' },
      { key: SA.jobId, value: String(input.jobId) },
      { key: SA.jobName, value: input.name ?? null },
      { key: SA.status, value: view.status },
      { key: SA.infra, value: current?.cloud ?? null },
      { key: SA.region, value: current?.region ?? null },
      { key: SA.recoveries, value: view.steps.reduce((n, s) => n + s.recoveries, 0) },
      { key: SA.user, value: input.user },
    ]);
    setCurrentDetails(describeProgress(view));
  }

  const end = (status: ManagedJobStatus, message?: string): never => {
    if (message !== undefined) view.message = message;
    refresh(status);
    throw new PipelineEnded(message);
  };

  function stepContext(index: number): StepContext {
    return {
      index,
      count: input.steps.length,
      ...(input.name ? { pipelineName: input.name } : {}),
      taskName: names[index]!,
      submittedAtMs,
      clusterPrefix: `job-${input.jobId}-t${index}${generation > 0 ? `r${generation}` : ''}`,
      taskIds,
      ...(group ? { group: group.name } : {}),
    };
  }

  /** Starts a step's child workflow and waits for its end; a cancellation of the scope cancels the step (and waits for its teardown). */
  async function runStep(index: number): Promise<ManagedJobView> {
    const step = view.steps[index]!;
    const workflowId = stepWorkflowId(input.jobId, index);
    Object.assign(step, { generation, status: 'PENDING' as const });
    const handle = await startChild(managedJobWorkflow, {
      workflowId,
      args: [{ ...input.steps[index]!, jobId: input.jobId, user: input.user, step: stepContext(index) }],
      cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
      // A pipeline terminated by hand still has its steps tear their machines down.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      // A resumed run reruns a step under the id it had.
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      staticSummary: `${parallel ? 'member' : 'step'} ${index + 1}/${input.steps.length} ${names[index]} · ${step.resourcesSummary}`,
      memo: { resources: step.resourcesSummary },
      typedSearchAttributes: [
        { key: SA.kind, value: 'job-task' },
        { key: SA.jobId, value: String(input.jobId) },
        { key: SA.jobName, value: names[index]! },
        { key: SA.status, value: 'PENDING' },
        { key: SA.user, value: input.user },
      ],
    });
    // Named in the view once it exists: `jobs logs` reads it from there.
    step.workflowId = workflowId;
    handles.set(index, handle);
    if (group && group.complete) handle.signal(groupHostsSignal, group.hosts).catch(() => undefined);
    try {
      const result = await handle.result();
      Object.assign(step, { status: result.status, recoveries: result.recoveries, endedAt: result.endedAt ?? nowIso(), message: result.message?.split('\n')[0] });
      refresh();
      return result;
    } catch (err) {
      if (isCancellation(err)) {
        Object.assign(step, { status: 'CANCELLED' as const, endedAt: nowIso() });
        refresh();
      }
      throw err;
    }
  }

  async function runChain(): Promise<void> {
    for (let i = 0; i < input.steps.length; i++) {
      if (view.steps[i]!.status === 'SUCCEEDED') continue;
      const result = await runStep(i);
      if (result.status !== 'SUCCEEDED') {
        skipFrom(i + 1, `step ${i + 1} (${names[i]}) ended ${result.status}`);
        end(result.status, `step ${i + 1}/${input.steps.length} ${names[i]}: ${result.status}${result.message ? ` — ${result.message.split('\n')[0]}` : ''}`);
      }
    }
    end('SUCCEEDED');
  }

  async function runGroup(): Promise<void> {
    const scopes = names.map(() => new CancellationScope());
    const ended = names.map(() => false);
    const stoppedBecause: Array<string | undefined> = names.map(() => undefined);
    const runs = names.map((_, i) =>
      scopes[i]!.run(() => runStep(i))
        .catch((err) => {
          if (!isCancellation(err)) throw err;
        })
        .then(() => {
          if (stoppedBecause[i]) view.steps[i]!.message = stoppedBecause[i];
        })
        .finally(() => (ended[i] = true)),
    );
    const explicitPrimaries = input.group?.primaryTasks !== undefined;
    const isPrimary = (i: number) => primaries.has(names[i]!);
    const failedPrimary = () => names.findIndex((_, i) => isPrimary(i) && ended[i] && view.steps[i]!.status !== 'SUCCEEDED');
    try {
      // With primary_tasks, the group is over when they all end (or one of them fails).
      await condition(() => names.every((_, i) => !isPrimary(i) || ended[i]) || (explicitPrimaries && failedPrimary() >= 0));
    } catch (err) {
      // Cancelled: every member was cancelled with the group; it is over once they have torn down.
      await Promise.all(runs);
      throw err;
    }
    const failed = failedPrimary();
    const stop = (i: number, why: string) => {
      if (ended[i]) return;
      stoppedBecause[i] = why;
      scopes[i]!.cancel();
    };
    if (failed >= 0 && explicitPrimaries) {
      names.forEach((_, i) => stop(i, `cancelled: primary task ${names[failed]} ended ${view.steps[failed]!.status}`));
    } else {
      // Auxiliaries keep going for their termination delay (a logger flushing, a server draining).
      names.forEach((name, i) => {
        if (ended[i]) return;
        const delay = input.group?.terminationDelaySeconds.perTask[name] ?? input.group?.terminationDelaySeconds.default ?? 0;
        sleep(delay * 1000)
          .then(() => stop(i, `cancelled ${delay} s after the primary tasks ended (termination_delay)`))
          .catch(() => undefined);
      });
    }
    await Promise.all(runs);
    if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('job group cancelled');
    // Without primary_tasks every task is primary, and the first one that did not succeed decides.
    const decider = names.findIndex((_, i) => isPrimary(i) && view.steps[i]!.status !== 'SUCCEEDED');
    if (decider >= 0) end(view.steps[decider]!.status as ManagedJobStatus, `${names[decider]}: ${view.steps[decider]!.status}${view.steps[decider]!.message ? ` — ${view.steps[decider]!.message}` : ''}`);
    end('SUCCEEDED');
  }

  function skipFrom(index: number, why: string): void {
    for (const s of view.steps.slice(index)) if (s.status === 'PENDING') Object.assign(s, { status: 'SKIPPED' as const, message: `not run: ${why}` });
  }

  let cancelled = false;
  try {
    refresh('PENDING');
    if (parallel) await runGroup();
    else await runChain();
  } catch (err) {
    if (isCancellation(err)) {
      cancelled = true;
      skipFrom(0, 'the job was cancelled');
      view.message = 'cancelled by user';
    } else if (!(err instanceof PipelineEnded)) {
      view.message = err instanceof Error ? err.message : String(err);
      view.status = 'FAILED_CONTROLLER';
    }
    if (cancelled) {
      await CancellationScope.nonCancellable(async () => {
        // Steps still running were cancelled with the pipeline (WAIT_CANCELLATION_COMPLETED):
        // their teardown has finished by the time their results settle.
        view.endedAt = nowIso();
        refresh('CANCELLED');
      });
      throw err;
    }
  }
  view.endedAt = nowIso();
  refresh(view.status);
  return view;
}

function isTerminalStep(status: StepView['status']): boolean {
  return status === 'SKIPPED' || isTerminalManagedJobStatus(status);
}

/** "step 2/4 train: RUNNING on local/region-b" */
export function describeProgress(view: PipelineView): string {
  const n = view.steps.length;
  const what = view.kind === 'jobgroup' ? 'member' : 'step';
  const lines = view.steps.map((s) => {
    const where = s.cloud ? ` on ${s.cloud}${s.region ? `/${s.region}` : ''}` : '';
    const rec = s.recoveries ? `, ${s.recoveries} recover${s.recoveries === 1 ? 'y' : 'ies'}` : '';
    return `${what} ${s.index + 1}/${n} ${s.name}${s.role ? ` (${s.role})` : ''}: ${s.status}${where}${rec}`;
  });
  return [`**${view.kind === 'jobgroup' ? 'job group' : 'pipeline'} ${view.name ?? view.jobId}: ${view.status}**`, '', ...lines.map((l) => `- ${l}`)].join('\n');
}

/** Where each member's nodes are; complete once every member has been placed once. */
class GroupHostsTable {
  hosts: GroupHosts;

  constructor(
    readonly name: string,
    private readonly tasks: string[],
  ) {
    this.hosts = { version: 0, group: name, members: [] };
  }

  get complete(): boolean {
    return this.hosts.members.length === this.tasks.length;
  }

  /** Records a member's new nodes; true when the table changed and is complete (time to tell every member). */
  placed(index: number, attempt: number, nodeIps: string[]): boolean {
    const current = this.hosts.members.find((m) => m.index === index);
    if (current && current.attempt === attempt) return false;
    const members = [...this.hosts.members.filter((m) => m.index !== index), { index, task: this.tasks[index]!, attempt, nodeIps }].sort((a, b) => a.index - b.index);
    this.hosts = { version: this.hosts.version, group: this.name, members };
    if (!this.complete) return false;
    this.hosts = { ...this.hosts, version: this.hosts.version + 1 };
    return true;
  }
}

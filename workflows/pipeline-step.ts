// The step side of pipelines and job groups, inside a managedJob workflow: telling the pipeline
// what changed, and (job groups) keeping the group's hostnames on this member's nodes.
import { condition, getExternalWorkflowHandle, setHandler, workflowInfo } from '@temporalio/workflow';
import { groupHostsEnv, groupHostsFile } from '../core/job-group-hosts.js';
import { activities, SHORT } from './activity-options.js';
import type { AttemptView, ManagedJobView } from './managed-job-types.js';
import { groupHostsSignal, stepProgressSignal } from './pipeline-messages.js';
import type { GroupHosts, StepContext } from './pipeline-types.js';

export function stepTaskId(step: StepContext): string {
  return step.taskIds[step.index]!;
}

/** What every step sees besides its own task id: all of the pipeline's (SkyPilot's list form). */
export function stepEnv(step: StepContext): Record<string, string> {
  const ids = step.taskIds.join(',');
  return { PETREL_TASK_IDS: ids, SKYPILOT_TASK_IDS: ids };
}

/** Tells the pipeline this step's status (fire and forget: a pipeline that has ended needs no news). */
export class PipelineNotifier {
  private seq = 0;

  constructor(private readonly step: StepContext) {}

  notify(view: ManagedJobView, live: AttemptView | undefined): void {
    const parent = workflowInfo().parent;
    if (!parent) return;
    const where = live ?? view.attempts.at(-1);
    getExternalWorkflowHandle(parent.workflowId, parent.runId)
      .signal(stepProgressSignal, {
        index: this.step.index,
        seq: ++this.seq,
        status: view.status,
        ...(where?.cloud ? { cloud: where.cloud } : {}),
        ...(where?.region ? { region: where.region } : {}),
        recoveries: view.recoveries,
        ...(live?.handle ? { live: { attempt: live.attempt, nodeIps: live.handle.nodes.map((n) => n.ip) } } : {}),
        ...(view.message ? { message: view.message.split('\n')[0] } : {}),
      })
      .catch(() => undefined);
  }
}

/**
 * A job group member's view of the group's hostnames. `join` waits until the group's table
 * names this attempt's nodes, then writes it onto them; a newer table (another member
 * recovered elsewhere) is written again while the attempt lives; `leave` waits for a write in
 * flight, so nothing is written onto nodes being torn down.
 */
export class GroupMembership {
  private hosts: GroupHosts | undefined;
  private on: { attempt: AttemptView; version: number } | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly step: StepContext,
    private readonly warn: (message: string) => void,
  ) {
    setHandler(groupHostsSignal, (hosts) => {
      if (this.hosts && hosts.version <= this.hosts.version) return;
      this.hosts = hosts;
      if (this.on) this.sync();
    });
  }

  async join(attempt: AttemptView): Promise<void> {
    await condition(() => this.hosts?.members.find((m) => m.index === this.step.index)?.attempt === attempt.attempt);
    this.on = { attempt, version: 0 };
    this.sync();
    await this.writing;
  }

  async leave(): Promise<void> {
    this.on = undefined;
    await this.writing;
  }

  /** Per rank: the group's name, the hosts file, and nss_wrapper where the node has it. */
  envByRank(attempt: AttemptView, userPreload: string | undefined): Array<Record<string, string>> {
    return (attempt.groupHosts ?? []).map((h) => groupHostsEnv(this.step.group!, h.path, h.nssWrapper, userPreload));
  }

  private sync(): void {
    this.writing = this.writing.then(async () => {
      const target = this.on;
      const hosts = this.hosts;
      if (!target?.attempt.handle || !hosts || hosts.version <= target.version) return;
      try {
        const written = await activities(SHORT, `write job group ${hosts.group} hostnames (version ${hosts.version}) on ${target.attempt.handle.nodes.length} node(s)`).writeGroupHosts({
          handle: target.attempt.handle,
          content: groupHostsFile(hosts.group, hosts.members),
        });
        target.version = hosts.version;
        target.attempt.groupHosts = written;
        const without = written.filter((w) => !w.nssWrapper).map((w) => w.rank);
        if (without.length > 0) {
          this.warn(
            `the group's hostnames do not resolve on node(s) ${without.join(', ')}: nss_wrapper is not installed there (apt-get install libnss-wrapper); $PETREL_JOBGROUP_HOSTS names the hosts file`,
          );
        }
      } catch {
        // The attempt ended under the write (its nodes are going); the next attempt writes its own.
      }
    });
  }
}

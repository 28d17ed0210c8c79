// Handler of `petrel launch [YAML|CMD]`: provision (or reuse) a cluster, run setup and the task on it.
import { clusterWorkflowId, INFRA_WITHOUT_STOP, TASK_QUEUE, validateClusterName } from '../../core/names.js';
import { redactTask } from '../../core/spec/index.js';
import { submitJobUpdate } from '../../workflows/cluster-messages.js';
import { chooseResources, clusterInput, generatedClusterName, jobRequest } from '../cluster-requests.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { clusterPlacement, previewClusterPlan, renderPlan } from '../plan-preview.js';
import { confirm } from '../prompt.js';
import { clusterStartMetadata } from '../../workflows/job-details.js';
import { noteUiLink } from './ui.js';
import { submitJob } from '../submit.js';
import { loadTask } from '../task-input.js';
import type { TaskFlags } from '../task-flags.js';

interface LaunchFlags extends TaskFlags {
  cluster?: string;
  detachRun?: boolean;
  down?: boolean;
  idleMinutesToAutostop?: string;
  dryrun?: boolean;
  yes?: boolean;
  json?: boolean;
}


function autostopFrom(flags: LaunchFlags, fromYaml: { idleMinutes: number; down: boolean } | undefined) {
  if (flags.idleMinutesToAutostop !== undefined) {
    const idle = Number(flags.idleMinutesToAutostop);
    if (!Number.isInteger(idle) || idle < 0) throw new UserError(`-i: '${flags.idleMinutesToAutostop}' is not a whole number of minutes`);
    return { idleMinutes: idle, down: !!flags.down };
  }
  if (flags.down) return { idleMinutes: 0, down: true };
  return fromYaml;
}

export async function launch(ctx: CliContext, entrypoint: string | undefined, flags: LaunchFlags): Promise<number> {
  const { task, file } = loadTask(entrypoint, flags, 'launch');
  const where = file ?? 'command line';
  const resources = chooseResources(task, where);
  const clusterName = flags.cluster ?? generatedClusterName();
  const nameError = validateClusterName(clusterName);
  if (nameError) throw new UserError(`--cluster: ${nameError}`);
  const autostop = autostopFrom(flags, resources.autostop ? { idleMinutes: resources.autostop.idleMinutes, down: resources.autostop.down } : undefined);
  if (autostop && !autostop.down && (INFRA_WITHOUT_STOP as readonly string[]).includes(resources.cloud)) {
    const how = flags.idleMinutesToAutostop !== undefined ? '-i' : `${where}: resources.autostop`;
    throw new UserError(`${how}: ${resources.cloud} clusters cannot be stopped, only torn down; add --down (or autostop: {idle_minutes: N, down: true})`);
  }
  const placed = clusterPlacement(resources, task.numNodes);
  if (placed.why) throw new UserError(`${where}: ${placed.why}`);
  const input = clusterInput(clusterName, task, placed.entry ? { ...resources, region: placed.entry.region, zone: placed.entry.zone, instanceType: placed.entry.instanceType } : resources, autostop);
  const job = jobRequest(ctx.home, task, resources, true);

  ctx.note(`Task${task.name ? ` '${task.name}'` : ''} on cluster '${clusterName}': ${input.resourcesSummary}${autostop ? `, autostop ${autostop.idleMinutes} min${autostop.down ? ' (down)' : ''}` : ''}`);
  if (flags.dryrun) {
    const plan = previewClusterPlan(resources, task.numNodes);
    if (flags.json) ctx.line(JSON.stringify({ cluster: clusterName, resources: input.resourcesSummary, plan, task: redactTask(task) }, null, 2));
    else ctx.line(renderPlan(plan, task, where, [resources]));
    return plan.entries.length > 0 ? 0 : 1;
  }
  if (!(await confirm('Launch?', !!flags.yes))) {
    ctx.note('Aborted.');
    return 1;
  }
  const client = await ctx.client();
  const { WithStartWorkflowOperation } = await import('@temporalio/client');
  const { defineSearchAttributeKey, SearchAttributeType } = await import('@temporalio/common');
  const start = new WithStartWorkflowOperation('clusterWorkflow', {
    workflowId: clusterWorkflowId(input.clusterName),
    taskQueue: TASK_QUEUE,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    memo: { resources: input.resourcesSummary, autostop: input.autostop ?? null },
    ...clusterStartMetadata(input),
    // Whose it is, from the first moment (listings filter on it before any worker runs).
    typedSearchAttributes: [
      { key: defineSearchAttributeKey('PetrelKind', SearchAttributeType.KEYWORD), value: 'cluster' },
      { key: defineSearchAttributeKey('PetrelCluster', SearchAttributeType.KEYWORD), value: input.clusterName },
      { key: defineSearchAttributeKey('PetrelStatus', SearchAttributeType.KEYWORD), value: 'INIT' },
      { key: defineSearchAttributeKey('PetrelUser', SearchAttributeType.KEYWORD), value: input.user },
    ],
  });
  return submitJob(ctx, clusterName, !!flags.detachRun, () =>
    client.workflow.executeUpdateWithStart(submitJobUpdate, { args: [job], startWorkflowOperation: start }).then((submitted) => {
      noteUiLink(ctx, clusterWorkflowId(input.clusterName));
      return submitted;
    }),
  );
}

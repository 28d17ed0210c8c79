// Environment every job sees on every node, under Petrel's names and SkyPilot's, so tasks
// written for SkyPilot run unchanged.

export interface JobEnvInput {
  taskId: string;
  clusterName: string;
  cloud: string;
  region?: string;
  zone?: string;
  nodeIps: string[];
  gpusPerNode: number;
  phase: 'setup' | 'run';
}

export function jobEnvForNode(input: JobEnvInput, rank: number): Record<string, string> {
  const clusterInfo = JSON.stringify({
    cluster_name: input.clusterName,
    cloud: input.cloud,
    region: input.region ?? null,
    zone: input.zone ?? null,
  });
  const values: Record<string, string> = {
    NODE_RANK: String(rank),
    NODE_IPS: input.nodeIps.join('\n'),
    NUM_NODES: String(input.nodeIps.length),
    NUM_GPUS_PER_NODE: String(Math.ceil(input.gpusPerNode)),
    TASK_ID: input.taskId,
    CLUSTER_INFO: clusterInfo,
  };
  if (input.phase === 'setup') {
    values.SETUP_NODE_RANK = values.NODE_RANK!;
    values.SETUP_NODE_IPS = values.NODE_IPS!;
    values.SETUP_NUM_GPUS_PER_NODE = values.NUM_GPUS_PER_NODE!;
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    env[`PETREL_${k}`] = v;
    env[`SKYPILOT_${k}`] = v;
  }
  return env;
}

/** SkyPilot's form `sky-<timestamp>_<cluster>_<jobid>`, with our prefix. */
export function clusterJobTaskId(startedAtMs: number, clusterName: string, jobId: number): string {
  const ts = new Date(startedAtMs).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `petrel-${ts}_${clusterName}_${jobId}`;
}

/** SkyPilot's managed form `sky-managed-<ts>_<name>_<jobid>-<taskid>`, stable across recoveries. */
export function managedJobTaskId(submittedAtMs: number, name: string | undefined, jobId: number, taskIndex = 0): string {
  const ts = new Date(submittedAtMs).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `petrel-managed-${ts}_${name ?? 'job'}_${jobId}-${taskIndex}`;
}

// Names of a pipeline's steps, shared by the workflow and the CLI.

/** SkyPilot: an unnamed task of a DAG is `<dag>-<index>`. */
export function stepName(pipeline: { name?: string }, taskName: string | undefined, index: number): string {
  return taskName ?? `${pipeline.name ?? 'task'}-${index}`;
}

/** Each step's managedJob workflow: `job/<id>/<index>` (SkyPilot shows tasks as ID/TASK). */
export function stepWorkflowId(jobId: number, index: number): string {
  return `job/${jobId}/${index}`;
}

// Managed-job ids are the short numbers users type (1, 2, 3, … as in SkyPilot). The server
// makes them unique: each job's workflow id is `job/<id>`, started with REJECT_DUPLICATE, so
// two submitters that guess the same next id cannot both win; the loser takes the next one.
// No worker is involved, so jobs can be queued (PENDING) while no worker runs.
import type { Client, WorkflowStartOptions } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { managedJobWorkflowId } from './managed-job-client.js';
import { MANAGED_JOBS } from './visibility.js';

const MAX_TRIES = 1000;

/**
 * The highest job id visibility knows of, or 0. The newest started are looked at, not only the
 * newest one: a resumed pipeline starts again under its old id.
 */
async function newestJobId(client: Client): Promise<number> {
  let newest = 0;
  let seen = 0;
  for await (const wf of client.workflow.list({ query: MANAGED_JOBS, pageSize: 50 })) {
    const id = Number(wf.workflowId.replace(/^job\//, ''));
    if (Number.isInteger(id)) newest = Math.max(newest, id);
    if (++seen >= 50) break;
  }
  return newest;
}

type StartOptions = Omit<WorkflowStartOptions, 'workflowId' | 'workflowIdReusePolicy'> & { args: unknown[] };

/**
 * Hands out ids to the submissions of one process: visibility is asked once, then guesses
 * count up locally, so concurrent submissions from one process do not collide with each other.
 */
export class JobIdAllocator {
  private guess: Promise<number> | undefined;
  private next = 0;

  constructor(private readonly client: Client) {}

  async start(options: (jobId: number) => StartOptions, workflowType = 'managedJobWorkflow'): Promise<number> {
    this.guess ??= newestJobId(this.client).then((newest) => (this.next = Math.max(this.next, newest + 1)));
    await this.guess;
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const id = this.next++;
      try {
        await this.client.workflow.start(workflowType, { ...options(id), workflowId: managedJobWorkflowId(id), workflowIdReusePolicy: 'REJECT_DUPLICATE' });
        return id;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    }
    throw new Error(`could not find a free job id after ${MAX_TRIES} tries`);
  }
}

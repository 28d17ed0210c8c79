// Hands out managed-job ids 1, 2, 3, … (the short numbers users type, as in SkyPilot) from a
// single long-lived workflow, so ids are unique across every CLI and machine that talks to
// the same Temporal namespace. Continues as new before its history grows large.
import { allHandlersFinished, condition, continueAsNew, defineUpdate, setHandler } from '@temporalio/workflow';

export const JOB_IDS_WORKFLOW_ID = 'petrel/job-ids';
export const allocateJobIdUpdate = defineUpdate<number, []>('allocate');

/** Each update adds a few events; well under the 2,000-updates-per-run limit. */
const ALLOCATIONS_PER_RUN = 500;

export async function jobIdsWorkflow(state: { next: number } = { next: 1 }): Promise<void> {
  let next = state.next;
  let handed = 0;
  setHandler(allocateJobIdUpdate, () => {
    handed++;
    return next++;
  });
  await condition(() => handed >= ALLOCATIONS_PER_RUN);
  await condition(allHandlersFinished);
  await continueAsNew<typeof jobIdsWorkflow>({ next });
}

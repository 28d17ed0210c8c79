// Workflow time as the ISO strings views carry. Inside a workflow Date is the SDK's
// deterministic clock (the time of the current workflow task), so replays agree.
export function nowIso(): string {
  return new Date(Date.now()).toISOString();
}

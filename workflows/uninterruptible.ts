// Provisioning must not be abandoned halfway: the server does not wait for a retried activity
// that it considers unstarted, so a cancelled workflow could tear down before a late
// provision creates the machines — and leak them. Such steps run to completion in a
// non-cancellable scope; a cancel request is noted at once (onCancelRequested) and acted on
// as soon as the step is done, with its result in hand for the teardown.
import { CancellationScope, CancelledFailure } from '@temporalio/workflow';

export async function runToCompletion<T>(fn: () => Promise<T>, onCancelRequested: () => void, keep: (result: T) => void): Promise<T> {
  const outer = CancellationScope.current();
  outer.cancelRequested.catch(() => onCancelRequested());
  const result = await CancellationScope.nonCancellable(fn);
  keep(result);
  if (outer.consideredCancelled) throw new CancelledFailure('cancelled while provisioning');
  return result;
}

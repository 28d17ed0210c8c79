// Keeps an activity heartbeating while `fn` works, so a worker that dies mid-call is noticed
// after one heartbeat timeout instead of the whole start-to-close timeout.
import { Context } from '@temporalio/activity';

export async function withHeartbeats<T>(fn: () => Promise<T>, everyMs = 1000): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return fn(); // called outside an activity (tests, the CLI)
  }
  const timer = setInterval(() => ctx!.heartbeat(), everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

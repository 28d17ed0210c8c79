// Provision latency and capacity errors, measured around the provisionCluster activity by an
// activity interceptor, so the activities themselves stay free of metrics code. Every attempt
// counts on the worker that ran it: sum over workers for the whole fleet.
import type { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, Next } from '@temporalio/worker';
import { FAILURE_TYPES } from '../core/failures.js';
import { countCapacityError, observeProvision } from './metrics-registry.js';

const PROVISION = 'provisionCluster';

class ProvisionMetrics implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: Context) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    if (this.ctx.info.activityType !== PROVISION) return next(input);
    const req = (input.args[0] ?? {}) as { provider?: string; region?: string };
    const infra = req.provider ?? 'unknown';
    const started = performance.now();
    try {
      const result = await next(input);
      observeProvision(infra, (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      const type = (err as { type?: unknown }).type;
      if (type === FAILURE_TYPES.capacity || type === FAILURE_TYPES.quota) countCapacityError(infra, req.region ?? '');
      throw err;
    }
  }
}

export const provisionMetricsInterceptor: ActivityInterceptorsFactory = (ctx) => ({ inbound: new ProvisionMetrics(ctx) });

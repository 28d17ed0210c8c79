// OpenTelemetry tracing of the worker, through @temporalio/interceptors-opentelemetry: a span
// for each workflow run, each activity it schedules and each activity run, linked through
// Temporal headers to the client span that started the workflow (workers/tracing-client.ts).
// Exported over OTLP/HTTP (JSON) when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces-only
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; without it nothing here is even loaded, and the
// worker runs the workflow bundle that has no tracing interceptors in it.
import type { InjectedSinks, WorkerOptions } from '@temporalio/worker';
import { AsyncLocalContextManager } from './tracing-context.js';
import { tracingEnabled } from './tracing-env.js';

export interface WorkerTracing {
  /** added to the worker's options */
  interceptors: Required<Pick<NonNullable<WorkerOptions['interceptors']>, 'activity'>>;
  /** the workflow module with the tracing interceptors, for a worker that bundles at start-up */
  workflowModules: string[];
  sinks: InjectedSinks<Record<string, never>>;
  /** flushes what is buffered (call once the worker has stopped) */
  shutdown(): Promise<void>;
}

export async function workerTracing(env: NodeJS.ProcessEnv = process.env): Promise<WorkerTracing | undefined> {
  if (!tracingEnabled(env)) return undefined;
  const [{ createRequire }, otel, { BasicTracerProvider, BatchSpanProcessor }, { Resource }, { OTLPTraceExporter }] = await Promise.all([
    import('node:module'),
    import('@temporalio/interceptors-opentelemetry'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  const resource = new Resource({ 'service.name': env.OTEL_SERVICE_NAME || 'petrel-worker' });
  // The exporter reads the endpoint, headers and timeout from the OTEL_EXPORTER_OTLP_* variables.
  const processor = new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 1000 });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  // Global, so the activity interceptors' default tracer is this one.
  provider.register({ contextManager: new AsyncLocalContextManager() });
  const require = createRequire(import.meta.url);
  return {
    interceptors: {
      activity: [(ctx) => ({ inbound: new otel.OpenTelemetryActivityInboundInterceptor(ctx), outbound: new otel.OpenTelemetryActivityOutboundInterceptor(ctx) })],
    },
    workflowModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')],
    // Workflow spans are made inside the sandbox and leave it through this sink (not on replay).
    sinks: { exporter: otel.makeWorkflowExporter(processor, resource) } as unknown as InjectedSinks<Record<string, never>>,
    async shutdown() {
      await provider.shutdown().catch((err: Error) => console.error(`petrel worker: flushing traces failed: ${err.message}`));
    },
  };
}

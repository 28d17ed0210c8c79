// OpenTelemetry tracing for a Temporal client (the `petrel` CLI): a span around each workflow
// start, signal, update and query, whose context travels in the workflow's headers so the
// worker's workflow and activity spans join the same trace. Only when
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; import it lazily
// behind tracingEnabled() so a CLI without tracing loads none of it.
import type { ClientInterceptors } from '@temporalio/client';
import { tracingEnabled } from './tracing-env.js';

export { tracingEnabled } from './tracing-env.js';

export interface ClientTracing {
  /** give to `new Client({ ..., interceptors })` */
  interceptors: ClientInterceptors;
  /** exports what is buffered; await it before the process exits */
  shutdown(): Promise<void>;
}

export async function clientTracing(env: NodeJS.ProcessEnv = process.env): Promise<ClientTracing | undefined> {
  if (!tracingEnabled(env)) return undefined;
  const [{ OpenTelemetryWorkflowClientInterceptor }, { BasicTracerProvider, SimpleSpanProcessor }, { Resource }, { OTLPTraceExporter }] = await Promise.all([
    import('@temporalio/interceptors-opentelemetry'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  // A CLI command makes a handful of spans and exits: export each as it ends, flush at shutdown.
  const provider = new BasicTracerProvider({
    resource: new Resource({ 'service.name': env.OTEL_SERVICE_NAME || 'petrel-cli' }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter())],
  });
  const tracer = provider.getTracer('petrel-cli');
  return {
    interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer })] },
    async shutdown() {
      await provider.shutdown().catch(() => undefined);
    },
  };
}

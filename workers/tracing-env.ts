// Whether OpenTelemetry tracing is on: the standard OTLP endpoint variables. Tiny on purpose,
// so asking costs no import of the OpenTelemetry SDK.

export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return false;
  return !!(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** The prebuilt workflow bundle with the tracing interceptors in it (workers/build-bundle.ts). */
export const TRACED_BUNDLE = 'workflow-bundle-traced.js';
export const PLAIN_BUNDLE = 'workflow-bundle.js';

// Build step: bundle the workflow code once, so workers start without webpack. Two bundles:
// the plain one, and one with OpenTelemetry's workflow interceptors that a worker runs only
// when tracing is on (workers/tracing.ts), so a worker without tracing carries none of it.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { failureConverterPath } from '../codec/data-converter.js';
import { PLAIN_BUNDLE, TRACED_BUNDLE } from './tracing-env.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const bundles = [
  { file: PLAIN_BUNDLE, workflowInterceptorModules: [] },
  { file: TRACED_BUNDLE, workflowInterceptorModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')] },
];
for (const { file, workflowInterceptorModules } of bundles) {
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(here, '..', 'workflows', 'index.js'),
    workflowInterceptorModules,
    failureConverterPath,
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as never,
  });
  fs.writeFileSync(path.join(here, '..', file), code);
}

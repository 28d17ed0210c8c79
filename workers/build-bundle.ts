// Build step: bundle the workflow code once, so workers start without webpack.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { failureConverterPath } from '../codec/data-converter.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { code } = await bundleWorkflowCode({
  workflowsPath: path.join(here, '..', 'workflows', 'index.js'),
  failureConverterPath,
  logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as never,
});
fs.writeFileSync(path.join(here, '..', 'workflow-bundle.js'), code);

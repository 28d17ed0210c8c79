// Entry point of the workflow bundle: every workflow type the worker registers.
export { clusterWorkflow } from './cluster.js';
export { hostPoolWorkflow } from './host-pool.js';
export { managedJobWorkflow } from './managed-job.js';
export { logSessionWorkflow, workerOperationWorkflow } from './worker-operation.js';
export { jobWatcherWorkflow } from './job-watcher.js';
export { pipelineWorkflow } from './pipeline.js';

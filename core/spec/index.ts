// Public API of the task-spec reader. Everything else in core/spec is an implementation detail
// (the optimizer may import parseAcceleratorMemory from ./accelerators.js directly).
export { formatSpecError, TaskSpecError, type SpecError } from './errors.js';
export { parseTaskYaml } from './parse.js';
export { taskFromCommand } from './command.js';
export { applyOverrides, type TaskOverrides } from './overrides.js';
export { assertReadyToLaunch, redactTask } from './launch-checks.js';

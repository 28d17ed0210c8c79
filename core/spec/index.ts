// Public API of the task-spec reader. Everything else in core/spec is an implementation detail
// (the optimizer may import parseAcceleratorMemory from ./accelerators.js directly).
export { formatSpecError, formatSpecNotice, TaskSpecError, type SpecError, type SpecNotice } from './errors.js';
export { parseTaskYaml, readTaskYaml, type ParsedTaskFile } from './parse.js';
export { taskFromCommand } from './command.js';
export { applyOverrides, type TaskOverrides } from './overrides.js';
export { assertReadyToLaunch, redactTask } from './launch-checks.js';

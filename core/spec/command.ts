// `petrel launch 'echo hi'`: a bare command is a one-node task with default resources.
import { defaultResourceRequest, type TaskSpec } from '../task.js';
import { TaskSpecError } from './errors.js';

export function taskFromCommand(command: string): TaskSpec {
  if (typeof command !== 'string' || command.trim() === '') {
    throw new TaskSpecError([
      { file: '<command>', line: 0, column: 0, field: 'run', message: 'the command is empty; give a command to run or a task YAML file' },
    ]);
  }
  return {
    numNodes: 1,
    resources: { candidates: [defaultResourceRequest()], ordered: false },
    envs: {},
    secrets: {},
    fileMounts: {},
    run: command,
    config: {},
    volumes: {},
  };
}

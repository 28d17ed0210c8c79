// Handler of `petrel validate FILE…`: check task YAMLs without running anything (for users' own CI).
// A file SkyPilot accepts is ok here too; what Petrel will ignore, or refuse at launch, follows
// as `warning:` lines on stderr (the exit code stays 0 for those).
import { formatSpecNotice } from '../../core/spec/index.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { loadTasks, type LoadedTasks } from '../task-input.js';

function summary(tasks: Array<{ name?: string }>, pipelineName: string | undefined, loaded: Pick<LoadedTasks, 'execution' | 'jobGroup'>): string {
  if (tasks.length === 0) return 'no tasks';
  const names = tasks.map((t) => t.name ?? '(unnamed)').join(', ');
  if (loaded.execution === 'parallel') {
    const primaries = loaded.jobGroup?.primaryTasks;
    return `job group '${pipelineName}' of ${tasks.length} task${tasks.length > 1 ? 's' : ''}: ${names}${primaries ? `; primary: ${primaries.join(', ')}` : ''}`;
  }
  return tasks.length > 1 ? `pipeline${pipelineName ? ` '${pipelineName}'` : ''} of ${tasks.length} tasks: ${names}` : `task ${names}`;
}

export async function validate(ctx: CliContext, files: string[]): Promise<number> {
  let bad = 0;
  for (const file of files) {
    try {
      const loaded = loadTasks(file);
      const { tasks, pipelineName, notices } = loaded;
      ctx.line(`${file}: ok (${summary(tasks, pipelineName, loaded)})`);
      for (const n of notices) ctx.note(formatSpecNotice(n));
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      bad++;
      ctx.note(err.message);
    }
  }
  return bad > 0 ? 1 : 0;
}

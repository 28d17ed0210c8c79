// Handler of `petrel validate FILE…`: check task YAMLs without running anything (for users' own CI).
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { loadTasks } from '../task-input.js';


export async function validate(ctx: CliContext, files: string[]): Promise<number> {
  let bad = 0;
  for (const file of files) {
    try {
      const { tasks, pipelineName } = loadTasks(file);
      const names = tasks.map((t) => t.name ?? '(unnamed)').join(', ');
      ctx.line(`${file}: ok (${tasks.length > 1 ? `pipeline${pipelineName ? ` '${pipelineName}'` : ''} of ${tasks.length} tasks: ${names}` : `task ${names}`})`);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      bad++;
      ctx.note(err.message);
    }
  }
  return bad > 0 ? 1 : 0;
}

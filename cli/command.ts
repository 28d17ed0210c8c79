// Every command handler gets an injected context and returns its exit code; errors a user can
// act on print as one line, anything else as a short message (stack only with PETREL_DEBUG=1).
import { CliContext } from './context.js';
import { UserError } from './errors.js';

export type Handler<A extends unknown[]> = (ctx: CliContext, ...args: A) => Promise<number | void>;

export function action<A extends unknown[]>(handler: Handler<A>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const ctx = new CliContext();
    let code = 0;
    try {
      code = (await handler(ctx, ...args)) ?? 0;
    } catch (err) {
      code = reportError(ctx, err);
    } finally {
      await ctx.close().catch(() => undefined);
    }
    process.exitCode = code;
  };
}

export function reportError(ctx: CliContext, err: unknown): number {
  if (err instanceof UserError) {
    ctx.note(`petrel: ${err.message}`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  ctx.note(`petrel: ${message}`);
  if (process.env.PETREL_DEBUG && err instanceof Error && err.stack) ctx.note(err.stack);
  return 1;
}

/** Every handler module's loader, for the build step that makes the bundled CLI's code cache. */
export const handlerModules: Array<() => Promise<unknown>> = [];

/**
 * An action whose handler module is imported only when the command runs, so `petrel status`
 * never pays for loading the task parser and `petrel validate` never loads the Temporal client.
 */
export function lazy<M, K extends keyof M>(load: () => Promise<M>, name: K): (...args: unknown[]) => Promise<void> {
  handlerModules.push(load);
  return async (...args: unknown[]) => {
    const handler = (await load())[name] as unknown as Handler<unknown[]>;
    await action(handler)(...args);
  };
}

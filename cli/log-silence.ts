// When a logs command has nothing to print, it says why: the job has not started, it has no
// output yet, it printed nothing, or its output is not reachable from here (and where it is).
import type { CliContext } from './context.js';
import type { LogReport } from './log-streamer.js';

/** Output that ended phases had but that could not be shown: a note, or undefined when none. */
export function missingOutputNote(ctx: CliContext, what: string, report: LogReport): string | undefined {
  if (report.missing.length === 0) return undefined;
  const parts = report.missing.map((m) => `${m.key} on node ${m.rank}`);
  const why = [...new Set(report.missing.map((m) => m.why))].join('; ');
  const where = ctx.config.embedded
    ? `its node no longer answers (${why}) and it was not archived in ${ctx.home}/logs (the node was lost before the phase ended)`
    : `it is not archived in this PETREL_HOME (${ctx.home}/logs): the worker that ran it keeps the archive in its own PETREL_HOME, and the node no longer has it (${why})`;
  return `petrel: ${what}: the output of ${parts.join(', ')} is not reachable from here: ${where}`;
}

/** Why a job with no printed output printed nothing. */
export function silenceNote(what: string, state: { started: boolean; ended: boolean; status: string; message?: string }): string {
  if (!state.started) {
    return state.ended
      ? `petrel: ${what} never started (${state.status}${state.message ? `: ${state.message.split('\n')[0]}` : ''}), so it has no output`
      : `petrel: ${what} has not started yet (${state.status}); no output yet`;
  }
  return state.ended ? `petrel: ${what} printed no output (${state.status})` : `petrel: ${what} has no output yet (${state.status})`;
}

// When a logs command has nothing to print, it says why: the job has not started, it has no
// output yet, it printed nothing, or its output is gone (and why: which worker looked where).
import type { LogReport } from './log-streamer.js';

/** Output that ended phases had but that no worker could show: a note, or undefined when none. */
export function missingOutputNote(what: string, report: LogReport): string | undefined {
  if (report.missing.length === 0) return undefined;
  const notes: string[] = [];
  for (const kind of ['gone', 'unreachable'] as const) {
    const missing = report.missing.filter((m) => m.kind === kind);
    if (missing.length === 0) continue;
    const parts = missing.map((m) => `${m.key} on node ${m.rank}`).join(', ');
    const why = [...new Set(missing.map((m) => m.why))].join('; ');
    notes.push(`petrel: ${what}: the output of ${parts} ${kind === 'gone' ? 'is gone' : 'is not reachable from here'}: ${why}`);
  }
  return notes.join('\n');
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

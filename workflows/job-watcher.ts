// The watcher workflow (id `watch/<provider>/<region>[/<worker queue>]#<shard>`): an entity
// that durably holds which job phases run in its scope, and keeps one watcher activity running
// that asks the provider about all of them at once and signals each job's workflow what
// changed. Job workflows wait on those signals instead of holding an activity each, so an
// idle job costs history and a cache slot. The set survives worker crashes (it is workflow
// state) and continue-as-new (it is the next run's input); the activity re-derives every
// job's state from the provider when it starts again.
import {
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { PhaseWatchActivities } from '../activities/phase-watch-activities.js';
import { watchEntryId, type WatchEntry, type WatchScope } from '../core/phase-watch.js';
import { unwatchPhaseSignal, watchChangesQuery, watchPhaseSignal, type WatchChanges } from './job-watcher-messages.js';

export interface JobWatcherInput {
  scope: WatchScope;
  /** the set carried over by continue-as-new */
  entries?: WatchEntry[];
}

/** Changes kept for the activity's delta queries; an activity further behind reads the whole set. */
const CHANGE_LOG_LIMIT = 20_000;
/** Well before the server's limits: the carried set plus a short history replays quickly. */
const HISTORY_EVENTS_LIMIT = 3_000;
const HISTORY_BYTES_LIMIT = 4 << 20;
/** With nothing to watch for this long the workflow ends; the next phase starts it again. */
const IDLE_END_MS = 60_000;

type Change = { version: number } & ({ added: WatchEntry } | { removed: string });

export async function jobWatcherWorkflow(input: JobWatcherInput): Promise<void> {
  const entries = new Map<string, WatchEntry>((input.entries ?? []).map((e) => [watchEntryId(e), e]));
  // Versions count per run: the activity of a run starts from that run's whole set.
  let version = 0;
  let log: Change[] = [];
  const note = (change: { added: WatchEntry } | { removed: string }) => {
    version++;
    log.push({ version, ...change });
    if (log.length > CHANGE_LOG_LIMIT) log = log.slice(log.length - CHANGE_LOG_LIMIT / 2);
  };

  setHandler(watchPhaseSignal, (entry) => {
    entries.set(watchEntryId(entry), entry);
    note({ added: entry });
  });
  setHandler(unwatchPhaseSignal, (which) => {
    const id = watchEntryId(which);
    if (entries.delete(id)) note({ removed: id });
  });
  setHandler(watchChangesQuery, (since): WatchChanges => {
    if (since === version) return { version, changes: [] };
    const first = log[0]?.version;
    if (since < 0 || since > version || first === undefined || since + 1 < first) return { version, full: [...entries.values()] };
    return { version, changes: log.filter((c) => c.version > since).map(({ version: _, ...c }) => c) };
  });

  const tooLong = () => {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > HISTORY_EVENTS_LIMIT || info.historySize > HISTORY_BYTES_LIMIT;
  };
  const { watchScope } = proxyActivities<PhaseWatchActivities>({
    taskQueue: input.scope.queue,
    startToCloseTimeout: '3650 days',
    heartbeatTimeout: '10s',
    retry: { initialInterval: '1s', maximumInterval: '10s' },
    summary: `watch ${input.scope.provider}/${input.scope.region} job phases`,
  });

  for (;;) {
    if (entries.size === 0 && !(await condition(() => entries.size > 0 || tooLong(), IDLE_END_MS))) {
      await condition(allHandlersFinished);
      // A phase registered while the workflow was about to end is watched all the same.
      if (entries.size === 0) return;
      continue;
    }
    if (!tooLong()) {
      const scope = new CancellationScope();
      const watching = scope.run(() => watchScope({ scope: input.scope, watcherId: workflowInfo().workflowId }));
      let returned = false;
      await Promise.race([watching.then(() => (returned = true)), condition(tooLong)]).catch((err) => {
        if (!isCancellation(err)) throw err;
      });
      if (returned) continue; // it saw nothing to watch for a while
      scope.cancel();
      await watching.catch(() => undefined);
    }
    await condition(allHandlersFinished);
    return continueAsNew<typeof jobWatcherWorkflow>({ scope: input.scope, entries: [...entries.values()] });
  }
}

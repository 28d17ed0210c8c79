// One entity workflow per pool of fixed hosts (e.g. an SSH node pool): it is the only place
// hosts are handed out, so two clusters can never be given the same host. Leases end when
// released, or when their holder workflow has ended for any reason (even terminated, when no
// code of the holder could release them): a janitor checks holders while leases exist.
import { allHandlersFinished, condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import { activities, SHORT } from './activity-options.js';
import { acquireHostsUpdate, leasesQuery, releaseHostsUpdate, type Lease } from './host-pool-types.js';

/** How often holders of leases are checked for having ended. */
const JANITOR_EVERY = '30 seconds';
const EVENTS_BEFORE_CONTINUE = 5_000;

export async function hostPoolWorkflow(state: { leases: Record<string, Lease> } = { leases: {} }): Promise<void> {
  const leases = state.leases;
  setHandler(leasesQuery, () => leases);

  setHandler(acquireHostsUpdate, (req) => {
    const mine = Object.entries(leases).filter(([, l]) => l.holder === req.holder && l.cluster === req.cluster).map(([h]) => h);
    if (mine.length >= req.count) return { granted: true, hosts: mine.slice(0, req.count) }; // a retried acquire
    const free = req.hosts.filter((h) => !leases[h]);
    if (free.length < req.count - mine.length) return { granted: false, free: free.length, total: req.hosts.length };
    const taken = free.slice(0, req.count - mine.length);
    for (const h of taken) leases[h] = { holder: req.holder, cluster: req.cluster, since: new Date(Date.now()).toISOString() };
    return { granted: true, hosts: [...mine, ...taken] };
  });

  setHandler(releaseHostsUpdate, ({ holder, cluster }) => {
    const released = Object.entries(leases).filter(([, l]) => l.holder === holder && l.cluster === cluster).map(([h]) => h);
    for (const h of released) delete leases[h];
    return released;
  });

  while (workflowInfo().historyLength < EVENTS_BEFORE_CONTINUE && !workflowInfo().continueAsNewSuggested) {
    await condition(() => Object.keys(leases).length > 0);
    if (await condition(() => Object.keys(leases).length === 0, JANITOR_EVERY)) continue;
    const holders = [...new Set(Object.values(leases).map((l) => l.holder))];
    const ended = await activities(SHORT, `check ${holders.length} lease holder(s)`).endedWorkflows(holders);
    for (const [h, l] of Object.entries(leases)) if (ended.includes(l.holder)) delete leases[h];
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof hostPoolWorkflow>({ leases });
}

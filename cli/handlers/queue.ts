// Handler of `petrel queue CLUSTER…`: the job queue of each cluster.
import { clusterView } from '../cluster-client.js';
import type { CliContext } from '../context.js';
import { ago, duration, formatTable } from '../table.js';


export async function queue(ctx: CliContext, names: string[], flags: { json?: boolean; skipFinished?: boolean }): Promise<number> {
  const client = await ctx.client();
  const views = await Promise.all(names.map((n) => clusterView(client, n)));
  const ended = ['SUCCEEDED', 'FAILED', 'FAILED_SETUP', 'FAILED_DRIVER', 'CANCELLED'];
  const jobsOf = (v: (typeof views)[number]) => v.jobs.filter((j) => !flags.skipFinished || !ended.includes(j.status));
  if (flags.json) {
    ctx.line(JSON.stringify(views.map((v) => ({ cluster: v.name, status: v.status, jobs: jobsOf(v) })), null, 2));
    return 0;
  }
  views.forEach((v, i) => {
    if (i > 0) ctx.line();
    ctx.line(`Job queue of cluster ${v.name} (${v.status})`);
    const jobs = jobsOf(v);
    if (jobs.length === 0) return ctx.line('No jobs.');
    ctx.line(
      formatTable(
        ['ID', 'NAME', 'SUBMITTED', 'STARTED', 'DURATION', 'NODES', 'STATUS', 'EXIT'],
        jobs.map((j) => [
          String(j.id),
          j.name ?? '-',
          ago(j.submittedAt),
          ago(j.startedAt),
          duration(j.startedAt, j.endedAt),
          String(j.numNodes),
          j.status,
          j.exitCodes ? j.exitCodes.map((c) => (c === null ? '?' : String(c))).join(',') : '-',
        ]),
      ),
    );
  });
  return 0;
}

// The `jobs:` section of $PETREL_HOME/config.yaml: defaults for managed jobs.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { UserError } from './errors.js';

const JobsConfigSchema = z
  .object({
    /** how long a node may stop answering before a managed job treats it as lost */
    unreachable_grace_seconds: z.number().positive().default(30),
    /** a budget (USD) for every managed job that sets no --max-cost of its own */
    max_cost: z.number().positive().optional(),
    /** where workers keep checkpoint snapshots of tasks that name no store (s3://, gs://, file:///; default: each worker's home) */
    checkpoint_store: z.string().regex(/^(s3|gs|file):\/\/./, 'expected s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX] or file:///DIR').optional(),
    /** days a job's snapshots are kept after its newest one (default 7) */
    checkpoint_retention_days: z.number().positive().optional(),
  })
  .strict();

export type JobsConfig = z.infer<typeof JobsConfigSchema>;

export function readJobsConfig(home: string): JobsConfig {
  const file = path.join(home, 'config.yaml');
  let doc: Record<string, unknown> = {};
  try {
    doc = (parse(fs.readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UserError(`${file}: ${(err as Error).message}`);
  }
  const result = JobsConfigSchema.safeParse(doc.jobs ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new UserError(`${file}: jobs.${issue.path.join('.')}: ${issue.message}`);
  }
  return result.data;
}

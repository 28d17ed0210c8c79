// Helpers for managed-job tests: submit with the real CLI, read state through `jobs describe`.
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { ManagedJobView } from '../../workflows/managed-job-types.js';
import { withClient } from './client.js';
import { type PetrelEnv, waitFor } from './petrel.js';

export function writeConfig(p: PetrelEnv, config: Record<string, unknown>): void {
  fs.writeFileSync(path.join(p.home, 'config.yaml'), stringify(config));
}

export const THREE_REGIONS = { local: { regions: ['region-a', 'region-b', 'region-c'] }, jobs: { unreachable_grace_seconds: 5 } };

/** Submits with -d and returns the job id (printed alone on stdout). */
export async function submitJob(p: PetrelEnv, args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  const r = await p.ok(['jobs', 'launch', '-d', '-y', ...args], { env });
  return Number(r.stdout.trim());
}

export async function describeJob(p: PetrelEnv, id: number): Promise<ManagedJobView> {
  return p.json<ManagedJobView>(['jobs', 'describe', String(id)]);
}

export async function waitForJob(p: PetrelEnv, id: number, ok: (v: ManagedJobView) => boolean, what: string, timeoutMs = 60_000): Promise<ManagedJobView> {
  return waitFor(
    `job ${id}: ${what}`,
    async () => {
      const v = await describeJob(p, id);
      return ok(v) ? v : undefined;
    },
    timeoutMs,
    200,
  );
}

/**
 * Like waitForJob, but queries the workflow directly every 50 ms: for states that last only a
 * few seconds (provisioning, recovering, tearing down), which CLI polling may miss on a loaded machine.
 */
export async function catchJob(p: PetrelEnv, id: number, ok: (v: ManagedJobView) => boolean, what: string, timeoutMs = 60_000): Promise<ManagedJobView> {
  const { managedJobStatusQuery } = await import('../../workflows/managed-job-messages.js');
  return withClient(p, async (client) => {
    const handle = client.workflow.getHandle(`job/${id}`);
    return await waitFor(
      `job ${id}: ${what}`,
      async () => {
        const v = await handle.query(managedJobStatusQuery).catch(() => undefined);
        return v && ok(v) ? v : undefined;
      },
      timeoutMs,
      50,
    );
  });
}

export const running = (v: ManagedJobView) => v.status === 'RUNNING' && !!v.attempts.at(-1)?.runKey;

export function clusterDirs(p: PetrelEnv): string[] {
  const root = path.join(p.home, 'local', 'clusters');
  return fs.existsSync(root) ? fs.readdirSync(root) : [];
}

/** A job that logs each start to `dir/starts` and finishes once `dir/go` exists. */
export function gatedJob(dir: string): string {
  return `echo start >> ${dir}/starts; while [ ! -f ${dir}/go ]; do sleep 0.2; done; echo finished`;
}

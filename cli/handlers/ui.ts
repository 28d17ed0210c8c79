// Handler of `petrel ui [JOB|CLUSTER] [--open]`: where to look at a job, pipeline or cluster
// (or the list of them all) in the Temporal web UI.
import { spawn, spawnSync } from 'node:child_process';
import { clusterWorkflowId, validateClusterName } from '../../core/names.js';
import { readEmbeddedRecord } from '../../workers/embedded-record.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { managedJobWorkflowId } from '../managed-job-client.js';

/** The UI's base URL: the embedded server's (as its home recorded it) or PETREL_UI_URL; undefined when unknown. */
export function temporalUiBase(ctx: CliContext): string | undefined {
  const fromEnv = process.env.PETREL_UI_URL?.trim();
  if (fromEnv) return fromEnv.replace(/\/+$/, '');
  if (!ctx.config.embedded) return undefined;
  const record = readEmbeddedRecord(ctx.home);
  return record ? `http://127.0.0.1:${record.uiPort}` : undefined;
}

/** Temporal UI 2.x routes: `/namespaces/<ns>/workflows` lists, `…/workflows/<id>` shows one. */
export function temporalUiUrl(ctx: CliContext, workflowId?: string): string | undefined {
  const base = temporalUiBase(ctx);
  if (!base) return undefined;
  const list = `${base}/namespaces/${encodeURIComponent(ctx.config.namespace)}/workflows`;
  return workflowId === undefined ? list : `${list}/${encodeURIComponent(workflowId)}`;
}

/** The one extra line launch/describe print; nothing when the UI's address is unknown. */
export function noteUiLink(ctx: CliContext, workflowId: string): void {
  const url = temporalUiUrl(ctx, workflowId);
  if (url) ctx.note(`View in the Temporal UI: ${url}`);
}

function workflowIdOf(target: string): string {
  if (/^\d+$/.test(target)) return managedJobWorkflowId(Number(target));
  const nameError = validateClusterName(target);
  if (nameError) throw new UserError(`'${target}' is neither a job id (a number) nor a cluster name: ${nameError}`);
  return clusterWorkflowId(target);
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export async function ui(ctx: CliContext, target: string | undefined, flags: { open?: boolean }): Promise<number> {
  const workflowId = target === undefined ? undefined : workflowIdOf(target);
  const url = temporalUiUrl(ctx, workflowId);
  if (!url) {
    throw new UserError(
      ctx.config.embedded
        ? 'the Temporal UI address is unknown: the embedded server has not been started in this PETREL_HOME yet (petrel server start)'
        : `the Temporal UI address is unknown for TEMPORAL_ADDRESS=${ctx.config.address}: set PETREL_UI_URL to its web UI (e.g. https://temporal.example.com)`,
    );
  }
  ctx.line(url);
  if (!flags.open) return 0;
  if (!process.env.DISPLAY && !process.env.WAYLAND_DISPLAY && process.platform === 'linux') {
    ctx.note('Not opened: no display (DISPLAY/WAYLAND_DISPLAY unset); open the URL above in a browser.');
    return 0;
  }
  if (!hasCommand('xdg-open')) {
    ctx.note('Not opened: xdg-open is not installed; open the URL above in a browser.');
    return 0;
  }
  spawn('xdg-open', [url], { detached: true, stdio: 'ignore' }).unref();
  return 0;
}

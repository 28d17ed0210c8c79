// What the Temporal UI shows for a job or cluster: a one-line static summary and Markdown
// details set at start (user metadata), and Markdown current details the workflow updates on
// every state change. Pure functions of inputs and views, so workflows may call them; never
// envs values, secrets or the run script (the UI is seen by everyone who can see the namespace).
import type { ResourceRequest } from '../core/task.js';
import type { ClusterView, ClusterWorkflowInput } from './cluster-types.js';
import type { AttemptView, ManagedJobInput, ManagedJobView } from './managed-job-types.js';

export interface StartMetadata {
  staticSummary: string;
  staticDetails: string;
}

/** "A100:8 spot", "cpus=4+ mem=16+GB", or "any machine" */
export function resourcesShort(r: Pick<ResourceRequest, 'accelerators' | 'cpus' | 'memoryGb' | 'instanceType' | 'useSpot'>): string {
  const parts: string[] = [];
  for (const [name, count] of Object.entries(r.accelerators ?? {})) parts.push(`${name}:${count}`);
  if (r.instanceType) parts.push(r.instanceType);
  if (r.cpus) parts.push(`cpus=${r.cpus.value}${r.cpus.orMore ? '+' : ''}`);
  if (r.memoryGb) parts.push(`mem=${r.memoryGb.value}${r.memoryGb.orMore ? '+' : ''}GB`);
  if (parts.length === 0) parts.push('any machine');
  if (r.useSpot) parts.push('spot');
  return parts.join(' ');
}

function placeOf(r: Pick<ResourceRequest, 'cloud' | 'region' | 'zone'>): string {
  return [r.cloud ?? 'any infra', r.region, r.zone].filter(Boolean).join('/');
}

/** "aws", "any_of aws/gcp", "ordered aws → gcp" */
export function infraCandidates(candidates: ResourceRequest[], ordered?: boolean): string {
  const places = [...new Set(candidates.map(placeOf))];
  if (places.length <= 1) return places[0] ?? 'any infra';
  return ordered ? `ordered ${places.join(' → ')}` : `any_of ${places.join('/')}`;
}

const oneLine = (s: string, max = 160) => {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};
/**
 * The server refuses a start whose summary payload passes 400 bytes (details: 20,000) after
 * encoding, and the codec's encryption adds about 150: so summaries stay within 200 UTF-8 bytes.
 */
const SUMMARY_BYTES = 200;
const DETAILS_BYTES = 8000;

function fitBytes(s: string, max: number): string {
  const encoder = new TextEncoder();
  if (encoder.encode(s).length <= max) return s;
  let out = s;
  while (out.length > 0 && encoder.encode(`${out}…`).length > max) out = out.slice(0, -1);
  return `${out}…`;
}

const cell = (s: string | undefined) => (s ? oneLine(s).replace(/\|/g, '\\|') : '—');

export function managedJobStartMetadata(input: Omit<ManagedJobInput, 'jobId'>, jobId: number): StartMetadata {
  const first = input.candidates[0];
  const summary = [input.name ?? `job ${jobId}`, first ? resourcesShort(first) : undefined, infraCandidates(input.candidates, input.ordered)];
  const details = [
    `**Managed job ${jobId}${input.name ? ` · ${input.name}` : ''}**`,
    '',
    `- user: ${input.user}`,
    `- nodes: ${input.numNodes}`,
    `- resources: ${input.resourcesSummary}`,
    `- infra candidates: ${input.candidates.map((c) => `${placeOf(c)} (${resourcesShort(c)})`).join('; ') || 'any infra'}${input.candidates.length > 1 ? (input.ordered ? ', in order' : ', cheapest first') : ''}`,
    `- recovery: ${input.recovery.strategy}, up to ${input.recovery.maxRestartsOnErrors} restart(s) on errors${input.recovery.recoverOnExitCodes.length ? `, recover on exit codes ${input.recovery.recoverOnExitCodes.join(', ')}` : ''}`,
    ...(input.maxCostUsd !== undefined ? [`- max cost: $${input.maxCostUsd.toFixed(2)}`] : []),
    ...(input.checkpoint ? ['- checkpoints: on'] : []),
  ];
  return { staticSummary: fitBytes(oneLine(summary.filter(Boolean).join(' · '), SUMMARY_BYTES), SUMMARY_BYTES), staticDetails: fitBytes(details.join('\n'), DETAILS_BYTES) };
}

export function clusterStartMetadata(input: ClusterWorkflowInput): StartMetadata {
  const where = placeOf({ cloud: input.provider, region: input.region, zone: input.zone });
  const details = [
    `**Cluster ${input.clusterName}**`,
    '',
    `- user: ${input.user}`,
    `- nodes: ${input.numNodes}`,
    `- resources: ${input.resourcesSummary}`,
    `- infra: ${where}`,
    `- autostop: ${input.autostop ? `${input.autostop.idleMinutes} min idle${input.autostop.down ? ', then down' : ''}` : 'off'}`,
  ];
  return { staticSummary: fitBytes(oneLine(`cluster ${input.clusterName} · ${resourcesShort(input)} · ${where}`, SUMMARY_BYTES), SUMMARY_BYTES), staticDetails: fitBytes(details.join('\n'), DETAILS_BYTES) };
}

/** "1h 02m", "3m 05s", "12s" */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** "12-04 19:51:58" (UTC): short enough for a table column in the UI */
function shortTime(iso: string): string {
  return iso.replace(/^\d{4}-(\d\d-\d\d)T(\d\d:\d\d:\d\d).*$/, '$1 $2');
}

function attemptRow(a: AttemptView, nowMs: number): string {
  const started = Date.parse(a.startedAt);
  const duration = formatDuration((a.endedAt ? Date.parse(a.endedAt) : nowMs) - started);
  return `| ${a.attempt} | ${cell(a.cloud)} | ${cell(a.region)} | ${cell(a.zone)} | ${shortTime(a.startedAt)} | ${a.endedAt ? duration : `${duration} so far`} | ${a.outcome} | ${cell(a.reason)} |`;
}

/** The job's current details: status, where it runs, every attempt, recoveries and spend. */
export function describeManagedJob(view: ManagedJobView, nowMs: number): string {
  const live = view.attempts.find((a) => a.outcome === 'running');
  const where = live ? `${[live.cloud, live.region, live.zone].filter(Boolean).join('/')} (cluster ${live.clusterName})` : 'nowhere (no live attempt)';
  const lines = [
    `**${view.status}**${view.message ? ` — ${oneLine(view.message)}` : ''}`,
    '',
    `- runs on: ${where}`,
    `- recoveries: ${view.recoveries}, restarts on errors: ${view.restartsOnErrors}`,
    ...(view.spentUsd !== undefined && view.spentUsd > 0 ? [`- cost so far: $${view.spentUsd.toFixed(2)}`] : []),
  ];
  if (view.attempts.length > 0) {
    lines.push('', '| attempt | infra | region | zone | started (UTC) | duration | outcome | why it ended |', '|---|---|---|---|---|---|---|---|');
    lines.push(...view.attempts.map((a) => attemptRow(a, nowMs)));
  }
  return lines.join('\n');
}

/** The cluster's current details: status, where, and its jobs. */
export function describeCluster(view: ClusterView): string {
  const last = view.jobs.at(-1);
  const lines = [
    `**${view.status}**${view.lastError ? ` — ${oneLine(view.lastError)}` : ''}`,
    '',
    `- runs on: ${[view.provider, view.region].filter(Boolean).join('/')}`,
    `- resources: ${view.resourcesSummary}`,
    `- jobs: ${view.jobs.length}${last ? `; last: ${last.id}${last.name ? ` (${last.name})` : ''} ${last.status}` : ''}`,
  ];
  return lines.join('\n');
}

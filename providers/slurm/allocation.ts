// A Petrel cluster on Slurm is one sbatch allocation holding its nodes (SkyPilot does the
// same): a batch script that only waits, while setup and run come in as job steps. This file
// builds the sbatch command, reads squeue's answers and turns Slurm's words (states, pending
// reasons, submission errors) into Petrel's.
import type { GoneReason } from '../../core/cluster-state.js';
import type { DetachedJobState } from '../types.js';
import type { Quantity } from '../../core/task.js';
import type { CapacityScope, FailureKind } from '../../core/failures.js';
import { shellQuote } from '../shell-quote.js';
import type { SlurmClusterConfig } from './config.js';

/** The job name of a cluster's allocation: how a retried provision finds the one it submitted. */
export function allocationName(clusterName: string): string {
  return `petrel-${clusterName}`;
}

export interface AllocationRequest {
  clusterName: string;
  idempotencyKey: string;
  numNodes: number;
  partition?: string;
  cpus?: Quantity;
  memoryGb?: Quantity;
  /** `gpu[:type]:N` for --gres, already matched against the cluster's GPU types */
  gres?: string;
  /** absolute directory for the batch script's output (created before sbatch) */
  outputDir: string;
  /** --time: the partition's MaxTime (see maxTimeOf); absent = Slurm's default */
  timeLimit?: string;
}

/**
 * The batch script. A site may requeue an allocation even though Petrel asked it not to
 * (JobRequeue=1, or an admin's `scontrol requeue`): Petrel has counted the first run's nodes as
 * lost by then and recovers elsewhere, so a second run must let its nodes go at once rather
 * than hold them idle.
 */
export const BATCH_SCRIPT = [
  '#!/bin/bash',
  'if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then echo "petrel: this allocation was requeued; releasing it (Petrel recovers the job elsewhere)"; exit 0; fi',
  'exec sleep infinity',
  '',
].join('\n');

/** sbatch's options for a cluster (the script comes on stdin). */
export function sbatchArgs(req: AllocationRequest, cluster: SlurmClusterConfig): string[] {
  const args = [
    '--parsable',
    `--job-name=${allocationName(req.clusterName)}`,
    `--comment=petrel:${req.idempotencyKey}`,
    `--nodes=${req.numNodes}`,
    '--ntasks-per-node=1',
    '--no-requeue',
    // on sites that power nodes up on demand, start only once every node has booted
    '--wait-all-nodes=1',
    `--chdir=${req.outputDir}`,
    `--output=${req.outputDir}/slurm-%j.out`,
  ];
  if (req.partition) args.push(`--partition=${req.partition}`);
  if (cluster.account) args.push(`--account=${cluster.account}`);
  if (cluster.qos) args.push(`--qos=${cluster.qos}`);
  if (cluster.constraint) args.push(`--constraint=${cluster.constraint}`);
  if (req.cpus) args.push(`--cpus-per-task=${Math.ceil(req.cpus.value)}`);
  // memory: 0 is Slurm's "all the memory of each node"
  if (req.memoryGb) args.push(req.memoryGb.value === 0 ? '--mem=0' : `--mem=${Math.ceil(req.memoryGb.value * 1024)}M`);
  if (req.gres) args.push(`--gres=${req.gres}`);
  if (req.timeLimit) args.push(`--time=${req.timeLimit}`);
  args.push(...cluster.sbatchArgs);
  return args;
}

/** Each partition's time limit: `<name>[*]|<limit>` per line (`*` = the default partition). */
export const PARTITION_LIMITS_SCRIPT = "sinfo -h -o '%P|%l'";

/**
 * The --time to ask for: the partition's MaxTime, as SkyPilot does. Left to Slurm, an allocation
 * gets the partition's DefaultTime, often an hour on real sites, and a long training run would
 * be killed by it. Undefined when the limit is infinite or unknown (Slurm's default then
 * applies), or when the user's sbatch_args set --time themselves.
 */
export function maxTimeOf(sinfoOut: string, partition: string | undefined, userArgs: string[]): string | undefined {
  if (userArgs.some((a) => /^(--time(=|$)|--t(i(m)?)?=|-t)/.test(a))) return undefined;
  for (const line of sinfoOut.split('\n')) {
    const [name, limit] = line.trim().split('|');
    if (!name || !limit) continue;
    const isDefault = name.endsWith('*');
    if (partition ? name.replace(/\*$/, '') === partition : isDefault) return /^(infinite|n\/a)$/i.test(limit) ? undefined : limit;
  }
  return undefined;
}

export function sbatchCommand(args: string[]): string {
  return ['sbatch', ...args.map(shellQuote)].join(' ');
}

/** squeue's fields for an allocation, in this order, `|`-separated: id, state, reason, nodes, comment, submit time. */
export const SQUEUE_FORMAT = '%i|%T|%r|%N|%k|%V';

/** $1 = allocation id: its squeue line (empty, or exit 1 with "Invalid job id", once Slurm has forgotten it). */
export const ALLOCATION_SCRIPT = `squeue -h -j "$1" -t all -o '${SQUEUE_FORMAT}'`;

export interface AllocationState {
  jobId: string;
  state: string;
  reason: string;
  nodeList: string;
  comment: string;
  submitTime: string;
}

export function parseSqueueLine(line: string): AllocationState | undefined {
  const f = line.trim().split('|');
  if (f.length < 6 || !/^\d+$/.test(f[0]!)) return undefined;
  return { jobId: f[0]!, state: f[1]!, reason: f[2]!, nodeList: f[3]!, comment: f.slice(4, -1).join('|'), submitTime: f[f.length - 1]! };
}

/** Allocation states in which the nodes are Petrel's to use. */
const HOLDING = new Set(['RUNNING', 'SUSPENDED']);
/** States of an allocation that is not there yet: queued, or nodes booting. */
const WAITING = new Set(['PENDING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD', 'SPECIAL_EXIT']);

export function isHolding(s: AllocationState): boolean {
  return HOLDING.has(s.state);
}

export function isWaiting(s: AllocationState): boolean {
  return WAITING.has(s.state);
}

/**
 * Why a cluster's nodes are gone, from the allocation's last known state (undefined: squeue no
 * longer knows it, after MinJobAge). Whatever ended the allocation under a running job — a
 * node failure, preemption, the time limit, an admin's scancel — the job recovers; only the
 * wording differs.
 */
export function goneReason(state: string | undefined, pendingReason?: string): { reason: GoneReason; detail: string } {
  switch (state) {
    case 'COMPLETING':
      // Slurm is still killing the steps; the reason may already say why (NodeDown)
      return pendingReason === 'NodeDown' ? { reason: 'preempted', detail: 'a node of the allocation failed' } : { reason: 'preempted', detail: 'the allocation is ending (COMPLETING)' };
    case 'NODE_FAIL':
    case 'BOOT_FAIL':
      return { reason: 'preempted', detail: 'a node of the allocation failed' };
    case 'PREEMPTED':
      return { reason: 'preempted', detail: 'the allocation was preempted' };
    case 'TIMEOUT':
    case 'DEADLINE':
      return { reason: 'preempted', detail: 'the allocation reached its time limit' };
    case 'CANCELLED':
      return { reason: 'terminated', detail: 'the allocation was cancelled (scancel)' };
    case 'PENDING':
    case 'REQUEUED':
    case 'REQUEUE_HOLD':
      return { reason: 'preempted', detail: 'the allocation was requeued by Slurm' };
    case undefined:
      return { reason: 'terminated', detail: 'the allocation is no longer known to Slurm' };
    default:
      return { reason: 'terminated', detail: `the allocation ended (${state})` };
  }
}

/**
 * Slurm ends an allocation by signalling its steps (TERM, then KILL after KillWait), and the
 * step's wrapper records the signal's exit code like any other. On an allocation that has
 * ended, such an exit is the loss itself, not the job failing (or being cancelled), so it is
 * reported without its code and the watcher counts it as part of the loss. An exit by a code
 * of the job's own (below 128) stands: the job finished before its nodes went.
 */
export function killedWithAllocation(state: DetachedJobState): DetachedJobState {
  return state.state === 'exited' && state.exitCode >= 128 ? { state: 'lost' } : state;
}

/**
 * Pending reasons no amount of waiting fixes. The request may not fit this partition (more
 * nodes, CPUs, memory or time than it allows, or features its nodes lack) — another partition
 * or cluster may well take it, so that is the partition's capacity — or it names an account or
 * QOS the user may not use, which is theirs to fix. Anything else (Resources, Priority, a down
 * partition, nodes not available) may clear, until the provision timeout says it did not.
 */
const NEVER_FITS = new Set(['BadConstraints', 'PartitionConfig', 'PartitionNodeLimit', 'PartitionTimeLimit']);
const NOT_ALLOWED = new Set(['InvalidAccount', 'InvalidQOS', 'QOSJobLimit', 'AccountNotAllowed', 'DependencyNeverSatisfied']);

export function hopelessPending(reason: string): { kind: 'capacity' | 'config'; why: string } | undefined {
  if (NEVER_FITS.has(reason)) return { kind: 'capacity', why: "the request does not fit this partition's nodes or limits" };
  if (NOT_ALLOWED.has(reason)) return { kind: 'config', why: 'the account or QOS may not run it' };
  return undefined;
}

/**
 * sbatch's refusal as a Petrel failure, keeping Slurm's own words. Wrong partition, account or
 * QOS are the user's to fix (FAILED_PRECHECKS); a request the partition's nodes can never
 * satisfy is that partition's capacity (the job fails over); a controller that does not answer
 * is retried.
 */
export function classifySbatchError(stderr: string): { kind: FailureKind; scope?: CapacityScope; message: string } {
  const message = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('; ');
  const text = message.toLowerCase();
  if (/unable to contact slurm controller|connection refused|socket timed out|zero bytes were transmitted|communication connection failure|slurm_persist_conn|try again later|temporarily unavailable/.test(text)) {
    return { kind: 'transient', message };
  }
  if (/requested node configuration is not available|node count specification invalid|invalid generic resource|more processors requested than permitted|memory specification can not be satisfied|requested partition configuration not available/.test(text)) {
    return { kind: 'capacity', scope: 'zone', message };
  }
  if (/job violates accounting\/qos policy|qos.*limit|assoc.*limit/.test(text)) return { kind: 'quota', scope: 'zone', message };
  return { kind: 'config', message };
}

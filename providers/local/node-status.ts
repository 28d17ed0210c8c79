// A local node's state as its directory shows it: what query() reports for each node and what
// a batched status pass reports for a node whose job's wrapper is gone.
import fs from 'node:fs';
import path from 'node:path';
import type { NodeStatus } from '../../core/cluster-state.js';
import { GONE_MARKER, STOPPED_MARKER, UNREACHABLE_MARKER } from './paths.js';

export function nodeStatusOf(dir: string, rank: number): NodeStatus {
  if (fs.existsSync(path.join(dir, GONE_MARKER))) return { rank, state: 'gone', reason: 'preempted' };
  if (!fs.existsSync(dir)) return { rank, state: 'gone', reason: 'terminated' };
  if (unreachableNow(dir)) return { rank, state: 'gone', reason: 'unreachable' };
  if (fs.existsSync(path.join(dir, STOPPED_MARKER))) return { rank, state: 'stopped' };
  return { rank, state: 'up' };
}

function unreachableNow(dir: string): boolean {
  if (!fs.existsSync(path.join(dir, UNREACHABLE_MARKER))) return false;
  try {
    return Date.parse(fs.readFileSync(path.join(dir, UNREACHABLE_MARKER), 'utf8')) > Date.now();
  } catch {
    return false;
  }
}

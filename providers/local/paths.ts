// Where the local provider keeps a cluster: one directory per node, so a "machine" is a
// folder and a reclaimed machine is a folder marked gone.
import path from 'node:path';

export function clustersRoot(home: string): string {
  return path.join(home, 'local', 'clusters');
}

export function clusterDir(home: string, clusterName: string): string {
  return path.join(clustersRoot(home), clusterName);
}

export function nodeDir(home: string, clusterName: string, rank: number): string {
  return path.join(clusterDir(home, clusterName), `node-${rank}`);
}

export const NODE_HOME = 'home';
export const JOBS_DIR = 'jobs';
export const GONE_MARKER = 'GONE';
export const STOPPED_MARKER = 'STOPPED';
/** Holds an ISO timestamp: the node does not answer queries until then. */
export const UNREACHABLE_MARKER = 'UNREACHABLE_UNTIL';

/**
 * Every node marked unreachable also has a file here (named by unreachableIndexName), so a
 * batched status pass reads one directory instead of looking for a marker on every node.
 */
export function unreachableIndexDir(home: string): string {
  return path.join(home, 'local', 'unreachable');
}

export function unreachableIndexName(clusterName: string, rank: number): string {
  return `${clusterName}@node-${rank}`;
}

// Where a cluster lives on a machine reached through a shell (SSH hosts today; Slurm nodes
// next): relative to the user's home, `.petrel/clusters/<cluster>/node-<rank>/` is one node's
// home for that cluster — its uploads, its job directories, its pid and exit-code files.
//
// Per node, not per cluster, because homes are often shared: an NFS /home mounted on every
// host, or one machine reached under two addresses. Two nodes of one cluster on such hosts
// must never write the same files (a job directory keyed only by the cluster would make the
// second node attach to the first node's job), and a node's teardown must kill only the
// processes it started itself (a pid recorded by another host names an unrelated process here).
import { ProviderError } from './types.js';

const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function clusterDirOf(clusterName: string): string {
  if (!CLUSTER_NAME.test(clusterName)) throw new ProviderError('config', `invalid cluster name '${clusterName}'`);
  return `.petrel/clusters/${clusterName}`;
}

export function nodeDirOf(clusterName: string, rank: number): string {
  if (!Number.isInteger(rank) || rank < 0) throw new ProviderError('config', `invalid node rank ${rank}`);
  return `${clusterDirOf(clusterName)}/node-${rank}`;
}

/**
 * Whether `dir` is a directory Petrel created for a cluster (the per-node one, or the per-cluster
 * one of clusters provisioned before nodes had their own): the only kind teardown may remove.
 */
export function isPetrelClusterDir(dir: string): boolean {
  return /(^|\/)\.petrel\/clusters\/[A-Za-z0-9][A-Za-z0-9._-]*(\/node-\d+)?$/.test(dir);
}

/** The file in the user's home that names the filesystem holding it (see FILESYSTEM_ID_SCRIPT). */
export const FILESYSTEM_ID_FILE = '.petrel/filesystem-id';

/**
 * $1 = a directory to create (relative to the home), $2 = a fresh random id. Creates the
 * directory, then prints the id of the filesystem the home lives on: the first host to get
 * here records its candidate with an atomic link (safe on NFS), every later one — on the same
 * filesystem — reads that one back. Two nodes printing the same id share their home.
 */
export const FILESYSTEM_ID_SCRIPT = [
  'mkdir -p -- "$1" || exit 1',
  `f=${FILESYSTEM_ID_FILE}`,
  'if [ ! -s "$f" ]; then',
  '  t="$f.$$.$2"',
  '  printf %s "$2" > "$t" && ln -- "$t" "$f" 2>/dev/null',
  '  rm -f -- "$t"',
  'fi',
  'cat -- "$f"',
].join('\n');

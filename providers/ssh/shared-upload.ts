// Uploads to the nodes of a cluster, once per filesystem. Nodes whose homes share one
// filesystem (NodeHandle.filesystem: an NFS /home, or one machine under two addresses) get the
// files sent over the network once:
// - a destination outside the node homes (`~/x`, `/x`) is one path for all of them: upload once;
// - a destination inside each node home (`sky_workdir`) goes to a staging mirror in the
//   cluster directory, which only uploads ever write (so skipping unchanged files works across
//   syncs), and each node copies it into its own home on the host, where it costs a local copy.
// Each node still gets its own copy of the workdir, exactly as on hosts that share nothing.
import path from 'node:path';
import type { ClusterHandle, NodeHandle } from '../../core/cluster-state.js';
import { clusterDirOf } from '../remote-layout.js';
import { ProviderError } from '../types.js';
import type { SshRunner } from './runner.js';
import { remoteJoin, shellQuote } from './shell.js';

const STAGING_SUBDIR = '.sync';

/** Nodes grouped by the filesystem of their home; a node of unknown filesystem stands alone. */
export function groupByFilesystem(nodes: NodeHandle[]): NodeHandle[][] {
  const groups = new Map<string, NodeHandle[]>();
  for (const n of nodes) {
    const key = n.filesystem ? `fs:${n.filesystem}` : `node:${n.rank}`;
    groups.set(key, [...(groups.get(key) ?? []), n]);
  }
  return [...groups.values()];
}

/** Where `remoteDir` lands for a node, relative to the login directory (or absolute). */
function destinationOf(node: NodeHandle, clusterName: string, remoteDir: string): string {
  return remoteJoin(node.data.dir ?? clusterDirOf(clusterName), remoteDir);
}

export async function uploadOncePerFilesystem(
  handle: ClusterHandle,
  nodes: NodeHandle[],
  localDir: string,
  remoteDir: string,
  runnerOf: (node: NodeHandle) => SshRunner,
): Promise<void> {
  await Promise.all(
    groupByFilesystem(nodes).map(async (group) => {
      const first = group[0]!;
      const destinations = group.map((n) => destinationOf(n, handle.clusterName, remoteDir));
      if (new Set(destinations).size === 1) {
        await runnerOf(first).upload(localDir, remoteDir);
        return;
      }
      const staging = path.posix.join(clusterDirOf(handle.clusterName), STAGING_SUBDIR, stagingName(remoteDir));
      await runnerOf(first).upload(localDir, `~/${staging}`);
      await Promise.all(
        group.map(async (node, i) => {
          const dest = destinations[i]!;
          // `cd` first: the staging and destination paths are relative to the login directory.
          const r = await runnerOf(node).run(`cd && mkdir -p -- ${shellQuote(dest)} && cp -a -- ${shellQuote(staging)}/. ${shellQuote(dest)}/`, {
            timeoutMs: 30 * 60_000,
          });
          if (r.exitCode !== 0) {
            throw new ProviderError('transient', `copying ${remoteDir} into node ${node.rank}'s home on ${node.ip} failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
          }
        }),
      );
    }),
  );
}

/** A relative destination as one path segment-safe name under the staging directory. */
function stagingName(remoteDir: string): string {
  const clean = path.posix.normalize(remoteDir).replace(/^(\.\/)+/, '');
  if (clean === '.' || clean.startsWith('../')) return encodeURIComponent(remoteDir);
  return clean;
}

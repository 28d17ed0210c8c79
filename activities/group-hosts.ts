// Writes a job group's hosts table onto every node of one member's cluster, atomically (a job
// resolving a name never reads half a file), and says where it is and whether the node has
// nss_wrapper to resolve it with.
import type { ClusterHandle } from '../core/cluster-state.js';
import { getProvider, type ProviderContext } from '../providers/registry.js';
import { ProviderError } from '../providers/types.js';
import { mapProviderErrors } from './failures.js';
import { withHeartbeats } from './heartbeats.js';
import { withPortableKeys } from './portable-keys.js';

const HOSTS_FILE = '.petrel-jobgroup-hosts';

/** Prints the absolute path of the file, then nss_wrapper's library where the node has one. */
function writeScript(base64: string): string {
  return [
    'set -e',
    `f="$PWD/${HOSTS_FILE}"`,
    `printf %s '${base64}' | base64 -d > "$f.tmp.$$"`,
    'mv -f "$f.tmp.$$" "$f"',
    'echo "$f"',
    'for l in /usr/lib/*/libnss_wrapper.so /usr/lib64/libnss_wrapper.so /usr/lib/libnss_wrapper.so /usr/local/lib/libnss_wrapper.so; do',
    '  if [ -e "$l" ]; then echo "$l"; break; fi',
    'done',
  ].join('\n');
}

export interface GroupHostsOnNode {
  rank: number;
  path: string;
  /** nss_wrapper's library on the node; absent: the job sees the file but names do not resolve */
  nssWrapper?: string;
}

export function createGroupHostsActivities(ctx: ProviderContext) {
  async function writeGroupHosts(req: { handle: ClusterHandle; content: string }): Promise<GroupHostsOnNode[]> {
    return withHeartbeats(() =>
      mapProviderErrors(async () => {
        const p = withPortableKeys(getProvider(req.handle.provider, ctx), ctx.home);
        const script = writeScript(Buffer.from(req.content).toString('base64'));
        return Promise.all(
          req.handle.nodes.map(async (node) => {
            const r = await p.runner(req.handle, node).run(script, { timeoutMs: 60_000 });
            const [path, lib] = r.stdout.trim().split('\n');
            if (r.exitCode !== 0 || !path) throw new ProviderError('transient', `writing the job group's hosts file on node ${node.rank} failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
            return { rank: node.rank, path, ...(lib ? { nssWrapper: lib } : {}) };
          }),
        );
      }),
    );
  }
  return { writeGroupHosts };
}

// What a Slurm cluster has, from one `sinfo` per node and partition: nodes free and in total,
// GPUs by type free and in total. `petrel check slurm` prints it; provision matches the task's
// accelerators against the GPU types it finds (sites name them freely: a100, A100-SXM4-80GB).
import type { GpuAvailability } from '../../core/worker-ops.js';

/** One line per (node, partition): name|partition|state|gres|gres in use|cpus alloc/idle/other/total| */
export const SINFO_SCRIPT = `exec sinfo -h -N -O 'NodeList:|,Partition:|,StateCompact:|,Gres:|,GresUsed:|,CPUsState:|'`;

export interface SinfoNode {
  node: string;
  partition: string;
  isDefault: boolean;
  state: string;
  /** GPU type ('' when the site does not type them) → count */
  gpus: Map<string, number>;
  gpusUsed: Map<string, number>;
}

/** `gpu:T4:2(S:0-1),gpu:A100:1` / `gpu:2` / `(null)` → type → count. */
export function parseGres(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/(?:^|,)gpu(?::([^:(,]+))?:(\d+)/g)) {
    const type = m[1] ?? '';
    out.set(type, (out.get(type) ?? 0) + Number(m[2]));
  }
  return out;
}

export function parseSinfo(stdout: string): SinfoNode[] {
  const nodes: SinfoNode[] = [];
  for (const line of stdout.split('\n')) {
    const f = line.split('|');
    if (f.length < 5 || !f[0]) continue;
    const partition = f[1]!.trim();
    nodes.push({
      node: f[0].trim(),
      partition: partition.replace(/\*$/, ''),
      isDefault: partition.endsWith('*'),
      state: f[2]!.trim().replace(/[*~#!%$@^-]+$/, ''),
      gpus: parseGres(f[3]!.trim()),
      gpusUsed: parseGres(f[4]!.trim()),
    });
  }
  return nodes;
}

/** States in which a node takes no new work. */
const UNUSABLE = /^(down|drain|drng|drained|draining|fail|failg|maint|inval|unk|npc|powered_down|powering_down|pow_dn|powering_up|pow_up|resv|reserved|futr|future|boot|blocked)/;

/** `partitions low (default): 3/3 nodes free, GPUs T4 6/6 free; high: …` for `petrel check`. */
export function describeCluster(stdout: string, allowed?: string[]): string {
  const nodes = parseSinfo(stdout);
  const byPartition = new Map<string, SinfoNode[]>();
  for (const n of nodes) {
    if (allowed && !allowed.includes(n.partition)) continue;
    byPartition.set(n.partition, [...(byPartition.get(n.partition) ?? []), n]);
  }
  if (byPartition.size === 0) return allowed ? `none of the partitions ${allowed.join(', ')} exist` : 'no partitions';
  // the configured preference order, else Slurm's default partition first
  const order = (name: string) => (allowed ? allowed.indexOf(name) : byPartition.get(name)!.some((n) => n.isDefault) ? -1 : 0);
  const sorted = [...byPartition].sort(([a], [b]) => order(a) - order(b) || (allowed ? 0 : a.localeCompare(b)));
  const parts = sorted.map(([name, ns]) => {
    const idle = ns.filter((n) => n.state === 'idle').length;
    const usable = ns.filter((n) => !UNUSABLE.test(n.state)).length;
    const types = new Map<string, { total: number; free: number }>();
    for (const n of ns) {
      const usableNode = !UNUSABLE.test(n.state);
      for (const [type, count] of n.gpus) {
        const t = types.get(type) ?? { total: 0, free: 0 };
        t.total += count;
        if (usableNode) t.free += Math.max(0, count - (n.gpusUsed.get(type) ?? 0));
        types.set(type, t);
      }
    }
    const gpus = [...types].map(([type, t]) => `${type || 'gpu'} ${t.free}/${t.total} free`).join(', ');
    const isDefault = ns.some((n) => n.isDefault);
    return `${name}${isDefault ? ' (default)' : ''}: ${idle}/${ns.length} nodes free${usable < ns.length ? ` (${ns.length - usable} unavailable)` : ''}${gpus ? `, GPUs ${gpus}` : ''}`;
  });
  return `partitions ${parts.join('; ')}`;
}

/** GPUs per partition and type, for `petrel show-gpus`. */
export function gpuAvailability(stdout: string, cluster: string, allowed?: string[]): GpuAvailability[] {
  const rows = new Map<string, GpuAvailability>();
  for (const n of parseSinfo(stdout)) {
    if (allowed && !allowed.includes(n.partition)) continue;
    const usable = !UNUSABLE.test(n.state);
    for (const [type, count] of n.gpus) {
      const key = `${n.partition}\n${type}`;
      const r = rows.get(key) ?? { infra: 'slurm', region: cluster, zone: n.partition, type: type || 'gpu', free: 0, total: 0, nodes: 0, perNode: 0 };
      r.total += count;
      if (usable) r.free += Math.max(0, count - (n.gpusUsed.get(type) ?? 0));
      r.nodes++;
      r.perNode = Math.max(r.perNode, count);
      rows.set(key, r);
    }
  }
  return [...rows.values()];
}

/**
 * `--gres` for the task's accelerators on this cluster (or partition): the site's GPU type that
 * matches the name case-insensitively (`A100` finds `a100`, and `A100-80GB` finds
 * `a100-80gb`), or untyped `gpu:N` where the site does not type its GPUs.
 */
export function gresFor(
  stdout: string,
  accelerators: Record<string, number>,
  partition: string | undefined,
): { ok: true; gres: string } | { ok: false; message: string } {
  const entries = Object.entries(accelerators);
  if (entries.length !== 1) return { ok: false, message: `one accelerator type per node is supported, got ${entries.map(([n]) => n).join(', ')}` };
  const [name, count] = entries[0]!;
  if (!Number.isInteger(count) || count < 1) return { ok: false, message: `Slurm allocates whole GPUs; ${name}:${count} is not a whole number` };
  const nodes = parseSinfo(stdout).filter((n) => (partition ? n.partition === partition : n.isDefault));
  const types = new Map<string, number>();
  for (const n of nodes) for (const [t, c] of n.gpus) types.set(t, Math.max(types.get(t) ?? 0, c));
  if (types.size === 0) return { ok: false, message: `no GPUs in ${partition ? `partition ${partition}` : 'the default partition'}` };
  const wanted = name.toLowerCase();
  const typed = [...types.keys()].filter((t) => t !== '');
  const match = typed.find((t) => t.toLowerCase() === wanted);
  const most = (t: string) => types.get(t) ?? 0;
  if (match) {
    if (most(match) < count) return { ok: false, message: `${name}:${count} requested, but the nodes have at most ${most(match)} ${match} each` };
    return { ok: true, gres: `gpu:${match}:${count}` };
  }
  if (typed.length === 0) {
    if (most('') < count) return { ok: false, message: `${name}:${count} requested, but the nodes have at most ${most('')} GPUs each` };
    return { ok: true, gres: `gpu:${count}` };
  }
  return { ok: false, message: `no ${name} GPUs in ${partition ? `partition ${partition}` : 'the default partition'} (GPU types there: ${typed.join(', ')})` };
}

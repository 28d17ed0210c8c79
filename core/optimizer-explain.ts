// Why a resource candidate fits no priced cloud, and the nearest requests that would fit
// ("did you mean A100-80GB:8?"): other counts of the same accelerator, the same accelerator
// with other memory, a misspelt name, other regions, on-demand instead of spot.
import { BUILTIN_CATALOGS } from './catalog/index.js';
import { offerPrice, rowFits } from './catalog/match.js';
import type { Catalog, CatalogRow } from './catalog/types.js';
import { editDistance } from './spec/suggest.js';
import type { Quantity, ResourceRequest } from './task.js';

export interface ExplainOptions {
  enabledClouds: readonly string[];
  catalogs?: readonly Catalog[];
}

type Req = Pick<ResourceRequest, 'cloud' | 'region' | 'zone' | 'accelerators' | 'acceleratorMemory' | 'cpus' | 'memoryGb' | 'instanceType' | 'useSpot'>;

const qty = (q: Quantity) => `${q.value}${q.orMore ? '+' : ''}`;
const accelText = (name: string, count: number) => `${name}:${count}`;
const rowAccel = (r: CatalogRow) => (r.accelerator ? accelText(r.accelerator.name, r.accelerator.count) : 'no accelerators');

/** The priced catalogs a request may use: its pinned cloud, or every enabled one. */
function cloudsFor(req: Req, opts: ExplainOptions): Catalog[] {
  const catalogs = opts.catalogs ?? BUILTIN_CATALOGS;
  return catalogs.filter((c) => opts.enabledClouds.includes(c.cloud) && (req.cloud === undefined || req.cloud === c.cloud));
}

function offered(catalog: Catalog, row: CatalogRow, req: Req): Array<{ region: string; price: number }> {
  const out: Array<{ region: string; price: number }> = [];
  for (const o of row.offers) {
    if (req.region !== undefined && o.region !== req.region) continue;
    for (const z of o.zones) {
      if (req.zone !== undefined && z !== req.zone) continue;
      const price = offerPrice(o, req.useSpot, z);
      if (price !== undefined) out.push({ region: o.region, price });
    }
  }
  return out;
}

function feasible(req: Req, clouds: readonly Catalog[]): boolean {
  return clouds.some((c) => c.rows.some((r) => rowFits(c, r, req) && offered(c, r, req).length > 0));
}

const allRows = (clouds: readonly Catalog[]) => clouds.flatMap((c) => c.rows.map((row) => ({ catalog: c, row })));

function acceleratorNames(clouds: readonly Catalog[]): string[] {
  const names: string[] = [];
  for (const { row } of allRows(clouds)) if (row.accelerator && !names.includes(row.accelerator.name)) names.push(row.accelerator.name);
  return names;
}

const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * The known name a misspelt one most likely meant: one that starts with it (p4d.24xl), else the
 * nearest by edit distance within a third of its length (at least 2: A1OO, H1OO).
 */
function nearestName(word: string, known: readonly string[]): string | undefined {
  // Letters typed for look-alike digits (A1OO, l4) cost nothing.
  const norm = (s: string) => s.toLowerCase().replace(/o/g, '0').replace(/[il]/g, '1');
  const w = norm(word);
  const prefixed = known.find((k) => norm(k).startsWith(w));
  if (prefixed) return prefixed;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(w.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(w, norm(k));
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}
/** A100 and A100-80GB, V100 and V100-32GB: one chip, several memory sizes. */
const chip = (name: string) => name.toUpperCase().split('-')[0]!;

function describeWhere(req: Req, clouds: readonly Catalog[]): string {
  if (req.cloud !== undefined) return [req.cloud, req.region, req.zone].filter(Boolean).join('/');
  const place = [req.region, req.zone].filter(Boolean).join('/');
  return `${clouds.map((c) => c.cloud).join(' or ')}${place ? ` (${place})` : ''}`;
}

/** Requests one step away from `req`, nearest first, each with how to write it. */
function variants(req: Req, clouds: readonly Catalog[]): Array<{ label: string; req: Req }> {
  const accel: Array<{ label: string; req: Req }> = [];
  const out: Array<{ label: string; req: Req }> = [];
  const wanted = req.accelerators ? Object.entries(req.accelerators)[0] : undefined;
  if (wanted) {
    const [name, count] = wanted;
    const known = acceleratorNames(clouds);
    const fixed = known.find((k) => sameName(k, name)) ?? nearestName(name, known);
    const names = fixed ? [fixed, ...known.filter((k) => k !== fixed && chip(k) === chip(fixed))] : known.filter((k) => chip(k) === chip(name));
    for (const n of names) {
      const counts = [...new Set(allRows(clouds).filter(({ row }) => row.accelerator && sameName(row.accelerator.name, n)).map(({ row }) => row.accelerator!.count))];
      counts.sort((a, b) => Math.abs(a - count) - Math.abs(b - count) || a - b);
      for (const k of counts) accel.push({ label: accelText(n, k), req: { ...req, accelerators: { [n]: k } } });
    }
  }
  if (req.instanceType !== undefined) {
    const types = [...new Set(allRows(clouds).map(({ row }) => row.instanceType))];
    const fixed = types.find((t) => sameName(t, req.instanceType!)) ?? nearestName(req.instanceType, types);
    if (fixed && fixed !== req.instanceType) out.push({ label: `instance_type: ${fixed}`, req: { ...req, instanceType: fixed } });
  }
  if (req.useSpot) out.push({ label: 'use_spot: false', req: { ...req, useSpot: false } });
  for (const [field, q] of [['cpus', req.cpus], ['memory', req.memoryGb]] as const) {
    if (!q) continue;
    const key = field === 'cpus' ? 'vcpus' : 'memoryGb';
    const have = [...new Set(allRows(clouds).filter(({ catalog, row }) => rowFits(catalog, row, { ...req, [field === 'cpus' ? 'cpus' : 'memoryGb']: undefined })).map(({ row }) => row[key]))];
    have.sort((a, b) => Math.abs(a - q.value) - Math.abs(b - q.value) || a - b);
    for (const v of have.slice(0, 1)) {
      out.push({ label: `${field}: ${v}`, req: { ...req, [field === 'cpus' ? 'cpus' : 'memoryGb']: { value: v, orMore: false } } });
    }
  }
  // When the accelerator itself exists, what else was asked is the nearer thing to change.
  const exists = wanted !== undefined && allRows(clouds).some(({ row }) => row.accelerator && sameName(row.accelerator.name, wanted[0]) && row.accelerator.count === wanted[1]);
  return exists ? [...out, ...accel] : [...accel, ...out];
}

/** Where the request fits with its location pins dropped, cheapest region first. */
function elsewhere(req: Req, clouds: readonly Catalog[]): Array<{ label: string; req: Req }> {
  if (req.region === undefined && req.zone === undefined) return [];
  const loose = { ...req, region: undefined, zone: undefined };
  const best = new Map<string, { label: string; price: number; order: number; req: Req }>();
  clouds.forEach((catalog, ci) => {
    for (const row of catalog.rows) {
      if (!rowFits(catalog, row, loose)) continue;
      for (const { region, price } of offered(catalog, row, loose)) {
        const label = `infra: ${catalog.cloud}/${region}`;
        const held = best.get(label);
        if (!held || price < held.price) best.set(label, { label, price, order: ci * 1000 + catalog.regions.findIndex((r) => r.name === region), req: { ...loose, cloud: catalog.cloud, region } });
      }
    }
  });
  return [...best.values()].sort((a, b) => a.price - b.price || a.order - b.order);
}

/**
 * The nearest requests that would fit, written as a user would change their YAML: "A100:8",
 * "A100-80GB:8", "instance_type: p4d.24xlarge", "use_spot: false", "infra: aws/us-west-2", "cpus: 96".
 */
export function nearestFeasible(req: Req, opts: ExplainOptions & { max?: number }): string[] {
  const max = opts.max ?? 3;
  const catalogs = opts.catalogs ?? BUILTIN_CATALOGS;
  const priced = catalogs.some((c) => c.cloud === req.cloud);
  // A pinned cloud that is not enabled: the same request on the enabled ones.
  if (req.cloud !== undefined && priced && !opts.enabledClouds.includes(req.cloud)) {
    const others = { ...req, cloud: undefined, region: undefined, zone: undefined };
    return cloudsFor(others, opts)
      .filter((c) => feasible(others, [c]))
      .map((c) => `infra: ${c.cloud}`)
      .slice(0, max);
  }
  const clouds = cloudsFor(req, opts);
  if (clouds.length === 0) return [];
  const found: string[] = [];
  const add = (label: string) => {
    if (!found.includes(label) && found.length < max) found.push(label);
  };
  // The same request on another enabled cloud (A10G is AWS-only): first when the pinned cloud
  // does not know the accelerator at all.
  const otherClouds: string[] = [];
  if (req.cloud !== undefined) {
    const unpinned = { ...req, cloud: undefined, region: undefined, zone: undefined };
    for (const c of cloudsFor(unpinned, opts)) if (c.cloud !== req.cloud && feasible(unpinned, [c])) otherClouds.push(`infra: ${c.cloud}`);
  }
  const name = req.accelerators ? Object.keys(req.accelerators)[0] : undefined;
  const unknownHere = name !== undefined && !acceleratorNames(clouds).some((n) => sameName(n, name));
  if (unknownHere) otherClouds.forEach(add);
  for (const v of [...variants(req, clouds), ...elsewhere(req, clouds)]) if (feasible(v.req, clouds)) add(v.label);
  otherClouds.forEach(add);
  if (found.length === 0) {
    // Two steps: another accelerator count or name, somewhere else.
    for (const v of variants(req, clouds)) {
      const there = elsewhere(v.req, clouds)[0];
      if (there) add(`${v.label} (${there.label})`);
    }
  }
  return found;
}

/** The first requirement no row of the enabled (or pinned) clouds meets, in words. */
function firstUnmet(req: Req, clouds: readonly Catalog[], catalogs: readonly Catalog[]): string {
  const where = describeWhere(req, clouds);
  let rows = allRows(clouds);
  let subject: string;
  const wanted = req.accelerators ? Object.entries(req.accelerators)[0] : undefined;
  if (req.instanceType !== undefined) {
    rows = rows.filter(({ row }) => sameName(row.instanceType, req.instanceType!));
    if (rows.length === 0) return `unknown instance type '${req.instanceType}' on ${clouds.map((c) => c.cloud).join(' or ')}`;
    subject = req.instanceType;
    if (wanted) {
      const [name, count] = wanted;
      const withIt = rows.filter(({ row }) => row.accelerator && sameName(row.accelerator.name, name) && row.accelerator.count === count);
      if (withIt.length === 0) return `${req.instanceType} has ${[...new Set(rows.map(({ row }) => rowAccel(row)))].join(' or ')}, not ${accelText(name, count)}`;
      rows = withIt;
    }
  } else if (wanted) {
    const [name, count] = wanted;
    const named = rows.filter(({ row }) => row.accelerator && sameName(row.accelerator.name, name));
    if (named.length === 0) {
      const on = clouds.map((c) => c.cloud).join(' or ');
      const elsewhere = allRows(catalogs).filter(({ row }) => row.accelerator && sameName(row.accelerator.name, name));
      if (elsewhere.length === 0) return `unknown accelerator '${name}' on ${on}`;
      return `${name} is not offered on ${on} (${[...new Set(elsewhere.map(({ catalog }) => catalog.cloud))].join(', ')} has it)`;
    }
    if (!Number.isInteger(count)) return `${accelText(name, count)}: cloud VMs come with whole accelerators only`;
    rows = named.filter(({ row }) => row.accelerator!.count === count);
    if (rows.length === 0) {
      const counts = [...new Set(named.map(({ row }) => row.accelerator!.count))].sort((a, b) => a - b);
      return `no instance type on ${clouds.map((c) => c.cloud).join(' or ')} has ${accelText(name, count)} (counts offered: ${counts.join(', ')})`;
    }
    subject = `an instance with ${accelText(name, count)}`;
  } else if (req.acceleratorMemory !== undefined) {
    rows = rows.filter(({ catalog, row }) => rowFits(catalog, row, { acceleratorMemory: req.acceleratorMemory }));
    if (rows.length === 0) return `no accelerator on ${clouds.map((c) => c.cloud).join(' or ')} matches ${req.acceleratorMemory}`;
    subject = `an instance with ${req.acceleratorMemory}`;
  } else {
    subject = 'an instance type';
  }
  const sized = rows.filter(({ catalog, row }) => rowFits(catalog, row, req));
  if (sized.length === 0) {
    const asked = [req.cpus && `cpus=${qty(req.cpus)}`, req.memoryGb && `memory=${qty(req.memoryGb)}GB`].filter(Boolean).join(', ');
    return `no ${subject === 'an instance type' ? 'instance type' : subject.replace(/^an /, '')} on ${clouds.map((c) => c.cloud).join(' or ')} has ${asked}`;
  }
  const known = clouds.flatMap((c) => c.regions);
  if (req.region !== undefined && !known.some((r) => r.name === req.region)) {
    return `region '${req.region}' is not in the ${clouds.map((c) => c.cloud).join(' or ')} catalog (regions: ${known.map((r) => r.name).join(', ')})`;
  }
  if (req.zone !== undefined && !known.some((r) => r.zones.includes(req.zone!))) {
    return `zone '${req.zone}' is not in the ${clouds.map((c) => c.cloud).join(' or ')} catalog`;
  }
  const located = sized.filter(({ row }) => row.offers.some((o) => (req.region === undefined || o.region === req.region) && (req.zone === undefined || o.zones.includes(req.zone))));
  if (located.length === 0) return `${subject} is not offered in ${where}`;
  return `${subject} has no spot offer in ${where}`;
}

export function explainInfeasible(req: ResourceRequest, opts: ExplainOptions): { reason: string; suggestions: string[] } {
  const catalogs = opts.catalogs ?? BUILTIN_CATALOGS;
  const suggestions = nearestFeasible(req, opts);
  if (req.cloud !== undefined && !catalogs.some((c) => c.cloud === req.cloud)) {
    return { reason: `no ${req.cloud} infra of this worker fits it`, suggestions };
  }
  if (req.cloud !== undefined && !opts.enabledClouds.includes(req.cloud)) {
    return { reason: `${req.cloud} is not enabled on the worker (petrel check ${req.cloud})`, suggestions };
  }
  const clouds = cloudsFor(req, opts);
  if (clouds.length === 0) {
    const all = catalogs.map((c) => c.cloud);
    return {
      reason: `no free infra (local, SSH, Slurm, Kubernetes) fits it and no priced cloud is enabled on the worker (petrel check ${all.join(' ')})`,
      suggestions,
    };
  }
  return { reason: firstUnmet(req, clouds, catalogs), suggestions };
}

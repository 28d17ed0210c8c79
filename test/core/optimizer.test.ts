// The optimizer against the built-in catalogs, fed by task YAML in the users' own words: for
// each request the first placement the failover would try, some full orders, infeasible
// requests with their suggestions, and the --dryrun / show-gpus tables.
import { describe, expect, test } from 'vitest';
import { BUILTIN_CATALOGS } from '../../core/catalog/index.js';
import type { Catalog } from '../../core/catalog/types.js';
import {
  catalogGpuRows,
  formatGpuTable,
  formatPlanTable,
  nearestFeasible,
  planCandidates,
  type FreePlacement,
  type PlanEntry,
  type PlanInput,
} from '../../core/optimizer.js';
import { parseTaskYaml } from '../../core/spec/index.js';

function plan(yaml: string, opts: { enabled?: string[]; free?: FreePlacement[]; catalogs?: Catalog[] } = {}) {
  const task = parseTaskYaml(yaml, 'task.yaml').tasks[0]!;
  const input: PlanInput = {
    candidates: task.resources.candidates,
    ordered: task.resources.ordered,
    numNodes: task.numNodes,
    enabledClouds: opts.enabled ?? ['aws', 'gcp'],
    freePlacements: opts.free ?? [],
    ...(opts.catalogs ? { catalogs: opts.catalogs } : {}),
  };
  return { task, result: planCandidates(input) };
}

/** The price the catalog data lists for a row in a zone, read straight from the rows. */
function listed(e: PlanEntry): number {
  const catalog = BUILTIN_CATALOGS.find((c) => c.cloud === e.cloud)!;
  const [name, count] = Object.entries(e.accelerators ?? {})[0] ?? [];
  const row = catalog.rows.find(
    (r) => r.instanceType === e.instanceType && (name === undefined ? !r.accelerator : r.accelerator?.name === name && r.accelerator.count === count),
  )!;
  const offer = row.offers.find((o) => o.region === e.region)!;
  expect(offer.zones).toContain(e.zone);
  return e.useSpot ? (offer.zoneSpot?.[e.zone!] ?? offer.spot!) : offer.onDemand;
}

type First = { infra: string; instanceType?: string; spot: boolean; candidate?: number; accelerators?: Record<string, number> };

const FIRST: Array<{ yaml: string; enabled?: string[]; free?: FreePlacement[]; first: First }> = [
  { yaml: 'resources:\n  accelerators: A100:8\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'p4d.24xlarge', spot: false } },
  { yaml: 'resources:\n  accelerators: A100:8\n  use_spot: true\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'a2-highgpu-8g', spot: true } },
  { yaml: 'resources:\n  accelerators: H100:8\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'p5.48xlarge', spot: false } },
  { yaml: 'resources:\n  accelerators: H200:8\n', first: { infra: 'aws/us-west-2/us-west-2b', instanceType: 'p5en.48xlarge', spot: false } },
  { yaml: 'resources:\n  accelerators: L4:1\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'g2-standard-4', spot: false } },
  { yaml: 'resources:\n  accelerators: T4\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'g4dn.xlarge', spot: false } },
  // spot is priced per zone on AWS: the cheapest zone wins, not the region's first
  { yaml: 'resources:\n  accelerators: T4:1\n  use_spot: true\n', first: { infra: 'aws/us-west-2/us-west-2c', instanceType: 'g4dn.xlarge', spot: true } },
  { yaml: 'resources:\n  accelerators: V100:1\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'n1-standard-4', spot: false, accelerators: { V100: 1 } } },
  { yaml: 'resources:\n  accelerators: V100:8\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'n1-standard-16', spot: false, accelerators: { V100: 8 } } },
  { yaml: 'resources:\n  gpus: A10G:1\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'g5.xlarge', spot: false } },
  { yaml: 'resources:\n  accelerators: A10G:4\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'g5.12xlarge', spot: false } },
  { yaml: 'resources:\n  accelerators: A100-80GB:8\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'p4de.24xlarge', spot: false } },
  { yaml: 'resources:\n  accelerators: a100-80gb:8\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'p4de.24xlarge', spot: false, accelerators: { 'A100-80GB': 8 } } },
  { yaml: 'resources:\n  accelerators: A100:1\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'a2-highgpu-1g', spot: false } },
  { yaml: 'resources:\n  accelerators: A100:16\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'a2-megagpu-16g', spot: false } },
  { yaml: 'resources:\n  accelerators: {A100:8, H100:8}\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'p4d.24xlarge', spot: false, candidate: 0 } },
  { yaml: 'resources:\n  accelerators: {H100:8, A100:8}\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'p4d.24xlarge', spot: false, candidate: 1 } },
  { yaml: 'resources:\n  accelerators: [H100:8, A100:8]\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'p5.48xlarge', spot: false, candidate: 0 } },
  {
    yaml: 'resources:\n  any_of:\n    - infra: gcp\n      accelerators: H100:8\n    - infra: aws\n      accelerators: A100:8\n',
    first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'p4d.24xlarge', spot: false, candidate: 1 },
  },
  {
    yaml: 'resources:\n  accelerators: H100:8\n  ordered:\n    - infra: gcp/europe-west4\n    - infra: aws\n',
    first: { infra: 'gcp/europe-west4/europe-west4-b', instanceType: 'a3-highgpu-8g', spot: false, candidate: 0 },
  },
  { yaml: 'resources:\n  infra: aws/eu-west-1\n  accelerators: A100:8\n', first: { infra: 'aws/eu-west-1/eu-west-1a', instanceType: 'p4d.24xlarge', spot: false } },
  {
    yaml: 'resources:\n  infra: gcp/us-central1/us-central1-c\n  accelerators: A100-80GB:1\n',
    first: { infra: 'gcp/us-central1/us-central1-c', instanceType: 'a2-ultragpu-1g', spot: false },
  },
  { yaml: 'resources:\n  infra: aws/*/us-west-2b\n  accelerators: A10G:1\n', first: { infra: 'aws/us-west-2/us-west-2b', instanceType: 'g5.xlarge', spot: false } },
  { yaml: 'resources:\n  cpus: 4+\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'c6i.xlarge', spot: false } },
  { yaml: 'resources:\n  cpus: 4\n  memory: 16\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'm6i.xlarge', spot: false } },
  // nothing asked: SkyPilot's default of 8+ vCPUs with 4 GiB per vCPU
  { yaml: 'run: echo hi\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'm6i.2xlarge', spot: false } },
  { yaml: 'resources:\n  infra: gcp\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'n2-standard-8', spot: false } },
  { yaml: 'resources:\n  memory: 64+\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'r6i.2xlarge', spot: false } },
  { yaml: 'resources:\n  cpus: 2\n  use_spot: true\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'n2-standard-2', spot: true } },
  { yaml: 'resources:\n  instance_type: p3.8xlarge\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'p3.8xlarge', spot: false, accelerators: { V100: 4 } } },
  { yaml: 'resources:\n  instance_type: e2-standard-8\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'e2-standard-8', spot: false } },
  {
    yaml: 'resources:\n  instance_type: n1-standard-8\n  accelerators: T4:2\n',
    first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'n1-standard-8', spot: false, accelerators: { T4: 2 } },
  },
  { yaml: 'resources:\n  infra: gcp\n  cpus: 8+\n  use_spot: true\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'n2-standard-8', spot: true } },
  { yaml: 'resources:\n  accelerators: T4:1\n', enabled: ['gcp'], first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'n1-standard-4', spot: false, accelerators: { T4: 1 } } },
  {
    yaml: 'resources:\n  infra: aws/ap-northeast-1\n  accelerators: H100:8\n  use_spot: true\n',
    first: { infra: 'aws/ap-northeast-1/ap-northeast-1a', instanceType: 'p5.48xlarge', spot: true },
  },
  { yaml: 'resources:\n  accelerators: 80GB+:8\n', first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'p4de.24xlarge', spot: false, accelerators: { 'A100-80GB': 8 } } },
  { yaml: 'resources:\n  accelerators: nvidia:141GB:8\n', first: { infra: 'aws/us-west-2/us-west-2b', instanceType: 'p5en.48xlarge', spot: false, accelerators: { H200: 8 } } },
  { yaml: 'resources:\n  accelerators: L4:8\n  cpus: 96+\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'g2-standard-96', spot: false } },
  { yaml: 'resources:\n  infra: gcp\n  accelerators: T4:4\n  use_spot: true\n', first: { infra: 'gcp/us-central1/us-central1-a', instanceType: 'n1-standard-8', spot: true, accelerators: { T4: 4 } } },
  // free infra first…
  { yaml: 'resources:\n  cpus: 2\n', free: [{ candidate: 0, cloud: 'local', region: 'local' }], first: { infra: 'local/local', spot: false } },
  {
    yaml: 'resources:\n  infra: kubernetes\n  accelerators: H100:8\n',
    free: [{ candidate: 0, cloud: 'kubernetes', region: 'gke-prod' }],
    first: { infra: 'kubernetes/gke-prod', spot: false, accelerators: { H100: 8 } },
  },
  // …unless the user pins a priced cloud
  {
    yaml: 'resources:\n  infra: aws\n  accelerators: T4\n',
    free: [{ candidate: 0, cloud: 'kubernetes', region: 'gke-prod' }],
    first: { infra: 'aws/us-east-1/us-east-1a', instanceType: 'g4dn.xlarge', spot: false },
  },
];

describe('first placement of each request', () => {
  test('the table has at least 30 requests', () => expect(FIRST.length).toBeGreaterThanOrEqual(30));

  test.each(FIRST)('$yaml → $first.infra $first.instanceType', ({ yaml, enabled, free, first }) => {
    const { result } = plan(yaml, { enabled, free });
    expect(result.infeasible).toEqual([]);
    const e = result.entries[0]!;
    expect([e.cloud, e.region, e.zone].filter(Boolean).join('/')).toBe(first.infra);
    expect(e.instanceType).toBe(first.instanceType);
    expect(e.useSpot).toBe(first.spot);
    expect(e.candidate).toBe(first.candidate ?? 0);
    if (first.accelerators) expect(e.accelerators).toEqual(first.accelerators);
    if (e.instanceType) {
      expect(e.hourlyPrice).toBe(listed(e));
      expect(e.hourlyPrice).toBeGreaterThan(0);
    } else {
      expect(e.hourlyPrice).toBe(0);
    }
  });
});

describe('orders', () => {
  const priced = (entries: PlanEntry[]) => entries.map((e) => e.hourlyPrice);
  const nondecreasing = (xs: number[]) => xs.every((x, i) => i === 0 || xs[i - 1]! <= x);

  test('A100:8 on-demand: by price, ties in region then zone order of the catalog; every zone once', () => {
    const { result } = plan('resources:\n  accelerators: A100:8\n');
    const places = result.entries.map((e) => `${e.zone} ${e.instanceType} ${e.hourlyPrice}`);
    expect(places.slice(0, 6)).toEqual([
      'us-east-1a p4d.24xlarge 21.9576',
      'us-east-1b p4d.24xlarge 21.9576',
      'us-east-1c p4d.24xlarge 21.9576',
      'us-west-2a p4d.24xlarge 21.9576',
      'us-west-2b p4d.24xlarge 21.9576',
      'eu-west-1a p4d.24xlarge 24.5925',
    ]);
    expect(nondecreasing(priced(result.entries))).toBe(true);
    const zones = result.entries.map((e) => e.zone);
    expect(new Set(zones).size).toBe(zones.length);
    // both clouds, every zone that offers an 8×A100 machine
    expect(result.entries.filter((e) => e.cloud === 'gcp').map((e) => e.instanceType)).toEqual(Array(7).fill('a2-highgpu-8g'));
    expect(result.entries).toHaveLength(9 + 7);
  });

  test('spot: each zone at its own spot price, cheapest first; rows without spot are left out', () => {
    const { result } = plan('resources:\n  accelerators: A100-80GB:8\n  use_spot: true\n');
    expect(nondecreasing(priced(result.entries))).toBe(true);
    // p4de has no spot offer in us-west-2
    expect(result.entries.some((e) => e.region === 'us-west-2')).toBe(false);
    expect(result.entries.every((e) => e.useSpot && e.hourlyPrice === listed(e))).toBe(true);
  });

  test('a list of accelerators is tried in order; within a candidate by price', () => {
    const { task, result } = plan('resources:\n  accelerators: [H100:8, A100:8]\n');
    expect(task.resources.ordered).toBe(true);
    const candidates = result.entries.map((e) => e.candidate);
    const firstA100 = candidates.indexOf(1);
    expect(firstA100).toBeGreaterThan(0);
    expect(candidates.slice(firstA100).every((c) => c === 1)).toBe(true);
    expect(nondecreasing(priced(result.entries.slice(0, firstA100)))).toBe(true);
    expect(nondecreasing(priced(result.entries.slice(firstA100)))).toBe(true);
  });

  test('a set of accelerators (any_of) mixes the candidates by price', () => {
    const { task, result } = plan('resources:\n  accelerators: {H100:8, A100:8}\n');
    expect(task.resources.ordered).toBe(false);
    expect(nondecreasing(priced(result.entries))).toBe(true);
    expect(new Set(result.entries.map((e) => e.candidate))).toEqual(new Set([0, 1]));
    expect(result.entries[0]!.candidate).toBe(1);
  });

  test('free placements of every candidate come before any priced one (unordered)', () => {
    const { result } = plan('resources:\n  any_of:\n    - infra: aws\n      accelerators: T4\n    - accelerators: T4\n', {
      free: [
        { candidate: 1, cloud: 'kubernetes', region: 'ctx-a' },
        { candidate: 1, cloud: 'slurm', region: 'hpc', zone: 'gpu' },
      ],
    });
    expect(result.entries.slice(0, 3).map((e) => [e.cloud, e.region, e.zone, e.hourlyPrice, e.candidate])).toEqual([
      ['kubernetes', 'ctx-a', undefined, 0, 1],
      ['slurm', 'hpc', 'gpu', 0, 1],
      ['aws', 'us-east-1', 'us-east-1a', 0.526, 0],
    ]);
  });

  test('ordered: the first candidate on a cloud comes before the second candidate on free infra', () => {
    const { result } = plan('resources:\n  ordered:\n    - infra: gcp/us-east4\n      accelerators: L4:1\n    - accelerators: L4:1\n', {
      free: [{ candidate: 1, cloud: 'kubernetes', region: 'ctx-a' }],
    });
    expect(result.entries[0]).toMatchObject({ candidate: 0, cloud: 'gcp', region: 'us-east4', zone: 'us-east4-a', instanceType: 'g2-standard-4' });
    const k8s = result.entries.findIndex((e) => e.cloud === 'kubernetes');
    expect(result.entries.slice(0, k8s).every((e) => e.candidate === 0)).toBe(true);
    expect(result.entries[k8s + 1]).toMatchObject({ candidate: 1, cloud: 'gcp', region: 'us-central1' });
  });

  test('only enabled clouds are planned', () => {
    const { result } = plan('resources:\n  accelerators: A100:8\n', { enabled: ['gcp'] });
    expect(new Set(result.entries.map((e) => e.cloud))).toEqual(new Set(['gcp']));
  });

  test('the same input gives the same plan', () => {
    const yaml = 'resources:\n  accelerators: {A100:8, H100:8, A100-80GB:8}\n  use_spot: true\n';
    expect(plan(yaml).result).toEqual(plan(yaml).result);
  });

  test('a zone pin keeps only that zone; a region pin keeps every offering zone of it', () => {
    expect(plan('resources:\n  infra: aws/us-east-1/us-east-1c\n  accelerators: A100:8\n').result.entries.map((e) => e.zone)).toEqual(['us-east-1c']);
    expect(plan('resources:\n  infra: aws/us-east-1\n  accelerators: A100:8\n').result.entries.map((e) => e.zone)).toEqual([
      'us-east-1a',
      'us-east-1b',
      'us-east-1c',
    ]);
  });

  test('each zone holds its cheapest fitting type only', () => {
    const { result } = plan('resources:\n  infra: aws/us-east-1\n  accelerators: T4:1\n');
    expect(result.entries.map((e) => e.instanceType)).toEqual(Array(5).fill('g4dn.xlarge'));
  });
});

describe('infeasible requests', () => {
  const INFEASIBLE: Array<{ yaml: string; enabled?: string[]; reason: string | RegExp; suggestions: string[] }> = [
    { yaml: 'resources:\n  infra: aws\n  accelerators: A100:8\n', enabled: ['gcp'], reason: 'aws is not enabled on the worker (petrel check aws)', suggestions: ['infra: gcp'] },
    { yaml: 'resources:\n  accelerators: A1OO:8\n', reason: "unknown accelerator 'A1OO' on aws or gcp", suggestions: ['A100:8', 'A100:4', 'A100:2'] },
    { yaml: 'resources:\n  accelerators: A100-80G:8\n', reason: "unknown accelerator 'A100-80G' on aws or gcp", suggestions: ['A100-80GB:8', 'A100-80GB:4', 'A100-80GB:2'] },
    { yaml: 'resources:\n  accelerators: H100:1\n', reason: 'no instance type on aws or gcp has H100:1 (counts offered: 8)', suggestions: ['H100:8'] },
    { yaml: 'resources:\n  accelerators: A100:3\n', reason: 'no instance type on aws or gcp has A100:3 (counts offered: 1, 2, 4, 8, 16)', suggestions: ['A100:2', 'A100:4', 'A100:1'] },
    { yaml: 'resources:\n  accelerators: T4:0.5\n', reason: 'T4:0.5: cloud VMs come with whole accelerators only', suggestions: ['T4:1', 'T4:2', 'T4:4'] },
    {
      yaml: 'resources:\n  infra: aws/eu-west-1\n  accelerators: H100:8\n',
      reason: 'an instance with H100:8 is not offered in aws/eu-west-1',
      suggestions: ['infra: aws/us-east-1', 'infra: aws/us-west-2', 'infra: aws/ap-northeast-1'],
    },
    {
      yaml: 'resources:\n  infra: aws/us-west-2\n  accelerators: A100-80GB:8\n  use_spot: true\n',
      reason: 'an instance with A100-80GB:8 has no spot offer in aws/us-west-2',
      suggestions: ['use_spot: false', 'A100:8', 'infra: aws/us-east-1'],
    },
    { yaml: 'resources:\n  instance_type: p4d.24xl\n', reason: "unknown instance type 'p4d.24xl' on aws or gcp", suggestions: ['instance_type: p4d.24xlarge'] },
    { yaml: 'resources:\n  instance_type: p4d.24xlarge\n  accelerators: H100:8\n', reason: 'p4d.24xlarge has A100:8, not H100:8', suggestions: [] },
    { yaml: 'resources:\n  cpus: 1000+\n', reason: 'no instance type on aws or gcp has cpus=1000+', suggestions: ['cpus: 128'] },
    { yaml: 'resources:\n  infra: gcp\n  accelerators: A10G:1\n', reason: 'A10G is not offered on gcp (aws has it)', suggestions: ['infra: aws', 'A100:1', 'A100:2'] },
    { yaml: 'resources:\n  accelerators: V100:1\n  cpus: 32+\n', reason: 'no instance with V100:1 on aws or gcp has cpus=32+', suggestions: ['cpus: 8', 'V100:4', 'V100:8'] },
    {
      yaml: 'resources:\n  accelerators: T4:1\n',
      enabled: [],
      reason: 'no free infra (local, SSH, Slurm, Kubernetes) fits it and no priced cloud is enabled on the worker (petrel check aws gcp)',
      suggestions: [],
    },
    { yaml: 'resources:\n  infra: kubernetes\n  accelerators: H100:8\n', reason: 'no kubernetes infra of this worker fits it', suggestions: [] },
    {
      yaml: 'resources:\n  infra: aws/us-east-2\n  accelerators: A10G:1\n',
      reason: "region 'us-east-2' is not in the aws catalog (regions: us-east-1, us-west-2, eu-west-1, ap-northeast-1)",
      suggestions: ['infra: aws/us-east-1', 'infra: aws/us-west-2', 'infra: aws/eu-west-1'],
    },
  ];

  test.each(INFEASIBLE)('$yaml → $reason', ({ yaml, enabled, reason, suggestions }) => {
    const { result } = plan(yaml, { enabled });
    expect(result.entries).toEqual([]);
    expect(result.infeasible).toHaveLength(1);
    expect(result.infeasible[0]!.candidate).toBe(0);
    expect(result.infeasible[0]!.reason).toEqual(reason);
    expect(result.infeasible[0]!.suggestions).toEqual(suggestions);
  });

  test('every suggestion for a typo is itself feasible', () => {
    for (const s of nearestFeasible({ accelerators: { H1OO: 8 }, useSpot: false }, { enabledClouds: ['aws', 'gcp'] })) {
      const { result } = plan(`resources:\n  accelerators: ${s}\n`);
      expect(result.entries.length).toBeGreaterThan(0);
    }
  });

  test('one infeasible candidate of several is reported; the others are planned', () => {
    const { result } = plan('resources:\n  accelerators: {A100:8, H100:3}\n');
    expect(result.infeasible.map((f) => [f.candidate, f.suggestions])).toEqual([[1, ['H100:8']]]);
    expect(result.entries.every((e) => e.candidate === 0)).toBe(true);
  });
});

// A small catalog of fixed prices so the tables below read as they will print.
const FIXTURE: Catalog[] = [
  {
    cloud: 'aws',
    fetchedAt: '2025-01-02',
    source: 'test',
    defaultFamilies: ['m6i'],
    regions: [
      { name: 'us-east-1', zones: ['us-east-1a', 'us-east-1b'] },
      { name: 'us-west-2', zones: ['us-west-2a'] },
    ],
    rows: [
      {
        instanceType: 'p4d.24xlarge',
        family: 'p4d',
        vcpus: 96,
        memoryGb: 1152,
        accelerator: { name: 'A100', count: 8, memoryGb: 40, manufacturer: 'NVIDIA' },
        offers: [
          { region: 'us-east-1', onDemand: 21.9576, spot: 9.5, zones: ['us-east-1a', 'us-east-1b'], zoneSpot: { 'us-east-1b': 9.9 } },
          { region: 'us-west-2', onDemand: 21.9576, zones: ['us-west-2a'] },
        ],
      },
      { instanceType: 'm6i.2xlarge', family: 'm6i', vcpus: 8, memoryGb: 32, offers: [{ region: 'us-east-1', onDemand: 0.384, spot: 0.15, zones: ['us-east-1a'] }] },
    ],
  },
  {
    cloud: 'gcp',
    fetchedAt: '2025-01-03',
    source: 'test',
    defaultFamilies: ['n2-standard'],
    regions: [{ name: 'us-central1', zones: ['us-central1-a'] }],
    rows: [
      {
        instanceType: 'a2-highgpu-8g',
        family: 'a2-highgpu',
        vcpus: 96,
        memoryGb: 680,
        accelerator: { name: 'A100', count: 8, memoryGb: 40, manufacturer: 'NVIDIA' },
        offers: [{ region: 'us-central1', onDemand: 29.3871, spot: 9.4, zones: ['us-central1-a'] }],
      },
    ],
  },
];

describe('formatPlanTable (--dryrun)', () => {
  test('chosen row marked with its zone, alternatives per region, per node and for all nodes, catalog dates', () => {
    const { result } = plan('num_nodes: 2\nresources:\n  accelerators: A100:8\n', { catalogs: FIXTURE, free: [] });
    expect(formatPlanTable(result, 2, { catalogs: FIXTURE })).toBe(
      [
        '   INFRA                     INSTANCE       ACCELERATORS  vCPUs  MEM     SPOT  $/HOUR  $/HOUR x2 NODES',
        '✔  aws/us-east-1/us-east-1a  p4d.24xlarge   A100:8        96     1152GB  no    $21.96  $43.92',
        '   aws/us-west-2             p4d.24xlarge   A100:8        96     1152GB  no    $21.96  $43.92',
        '   gcp/us-central1           a2-highgpu-8g  A100:8        96     680GB   no    $29.39  $58.77',
        'Prices in USD per hour (aws prices of 2025-01-02, gcp prices of 2025-01-03).',
      ].join('\n'),
    );
  });

  test('spot plan with free infra first; the alternatives are capped', () => {
    const { result } = plan('resources:\n  accelerators: A100:8\n  use_spot: true\n', {
      catalogs: FIXTURE,
      free: [{ candidate: 0, cloud: 'kubernetes', region: 'ctx-a' }],
    });
    expect(formatPlanTable(result, 1, { alternatives: 1, catalogs: FIXTURE })).toBe(
      [
        '   INFRA             INSTANCE       ACCELERATORS  vCPUs  MEM    SPOT  $/HOUR',
        '✔  kubernetes/ctx-a  -              A100:8        -      -      yes   $0',
        '   gcp/us-central1   a2-highgpu-8g  A100:8        96     680GB  yes   $9.40',
        '… and 1 more',
        'Prices in USD per hour (gcp prices of 2025-01-03).',
      ].join('\n'),
    );
  });

  test('infeasible candidates are listed with their suggestions', () => {
    const { result } = plan('resources:\n  accelerators: {A100:8, A100:3}\n', { catalogs: FIXTURE });
    const text = formatPlanTable(result, 1, { catalogs: FIXTURE });
    expect(text.split('\n').at(-1)).toBe('Candidate 2 fits nowhere: no instance type on aws or gcp has A100:3 (counts offered: 8); did you mean A100:8?');
    const none = plan('resources:\n  accelerators: H100:8\n', { catalogs: FIXTURE }).result;
    expect(formatPlanTable(none, 1, { catalogs: FIXTURE })).toBe("No placement fits this task.\nCandidate 1 fits nowhere: unknown accelerator 'H100' on aws or gcp; did you mean A100:8?");
  });
});

describe('catalogGpuRows (show-gpus)', () => {
  test('by accelerator name in any case, not its other memory sizes', () => {
    const rows = catalogGpuRows({ accelerator: 'a100' });
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((r) => r.accelerator))).toEqual(new Set(['A100']));
    expect(new Set(rows.map((r) => r.count))).toEqual(new Set([1, 2, 4, 8, 16]));
    expect(new Set(rows.map((r) => r.cloud))).toEqual(new Set(['aws', 'gcp']));
  });

  test('NAME:COUNT, cloud and region filters', () => {
    const rows = catalogGpuRows({ accelerator: 'H100:8', cloud: 'aws' });
    expect(rows.map((r) => [r.region, r.instanceType, r.count])).toEqual([
      ['us-east-1', 'p5.48xlarge', 8],
      ['us-west-2', 'p5.48xlarge', 8],
      ['ap-northeast-1', 'p5.48xlarge', 8],
    ]);
    const inRegion = catalogGpuRows({ cloud: 'gcp', region: 'europe-west4' });
    expect(inRegion.length).toBeGreaterThan(0);
    expect(inRegion.every((r) => r.cloud === 'gcp' && r.region === 'europe-west4')).toBe(true);
    expect(new Set(inRegion.map((r) => r.accelerator))).toEqual(new Set(['T4', 'V100', 'L4', 'A100', 'A100-80GB', 'H100', 'H200']));
    expect(catalogGpuRows({ accelerator: 'B200' })).toEqual([]);
    expect(catalogGpuRows({ accelerator: 'A100:3' })).toEqual([]);
  });

  test('spot price absent where there is no spot offer', () => {
    const [west] = catalogGpuRows({ accelerator: 'A100-80GB', cloud: 'aws', region: 'us-west-2' });
    expect(west).toMatchObject({ instanceType: 'p4de.24xlarge', zones: ['us-west-2b'] });
    expect(west!.spot).toBeUndefined();
  });

  test('the table keeps the cheapest region per instance type', () => {
    const fixtureRows = catalogGpuRows({ accelerator: 'A100' }, FIXTURE);
    expect(formatGpuTable(fixtureRows, { catalogs: FIXTURE })).toBe(
      [
        'GPU   QTY  CLOUD  INSTANCE       DEVICE MEM  vCPUs  HOST MEM  $/HOUR  SPOT $/HOUR  REGION',
        'A100  8    aws    p4d.24xlarge   40GB        96     1152GB    $21.96  $9.50        us-east-1',
        'A100  8    gcp    a2-highgpu-8g  40GB        96     680GB     $29.39  $9.40        us-central1',
        'Prices in USD per hour (aws prices of 2025-01-02, gcp prices of 2025-01-03).',
      ].join('\n'),
    );
    expect(formatGpuTable(fixtureRows, { allRegions: true, catalogs: FIXTURE }).split('\n')).toHaveLength(5);
  });
});

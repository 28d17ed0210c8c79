// The built-in catalogs' invariants, and the refresh script's transforms on answers shaped like
// the real APIs' (AWS bulk price list CSV, EC2 spot history / type offerings, Cloud Billing SKUs).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { BUILTIN_CATALOGS, catalogRegions, catalogZones, cheapestFit, lookupInstance, zonesOffering } from '../../core/catalog/index.js';
import { parseCatalogModule, renderCatalogModule } from '../../core/catalog/render.js';
import type { RefreshReport } from '../../core/catalog/refresh.js';
import { applyAwsRegion, awsPriceListReader, latestSpotPrices, splitCsvLine, zonesByType } from '../../core/catalog/refresh-aws.js';
import { applyGcpSkus, indexSkus, skuUnitPrice, type BillingSku } from '../../core/catalog/refresh-gcp.js';
import type { Catalog } from '../../core/catalog/types.js';

const GPU_FAMILIES = ['T4', 'L4', 'A10G', 'V100', 'A100', 'A100-80GB', 'H100', 'H200'];

describe('built-in catalogs', () => {
  test.each(BUILTIN_CATALOGS.map((c) => [c.cloud, c] as const))('%s: dated, sourced, at least 3 regions with zones of their own', (_, c) => {
    expect(c.fetchedAt).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(c.source.length).toBeGreaterThan(40);
    expect(c.regions.length).toBeGreaterThanOrEqual(3);
    for (const r of c.regions) {
      expect(r.zones.length).toBeGreaterThan(0);
      for (const z of r.zones) expect(z.startsWith(r.name)).toBe(true);
    }
  });

  test('every GPU family is on some cloud; A10G only on AWS (as in reality)', () => {
    const names = (c: Catalog) => new Set(c.rows.flatMap((r) => (r.accelerator ? [r.accelerator.name] : [])));
    const all = new Set(BUILTIN_CATALOGS.flatMap((c) => [...names(c)]));
    for (const g of GPU_FAMILIES) expect(all.has(g)).toBe(true);
    const gcp = BUILTIN_CATALOGS.find((c) => c.cloud === 'gcp')!;
    expect(names(gcp).has('A10G')).toBe(false);
    for (const g of ['T4', 'L4', 'V100', 'A100', 'A100-80GB', 'H100', 'H200']) expect(names(gcp).has(g)).toBe(true);
  });

  test.each(BUILTIN_CATALOGS.map((c) => [c.cloud, c] as const))('%s: offers are in known regions and zones, priced, spot below on-demand', (_, c) => {
    const regions = new Map(c.regions.map((r) => [r.name, r.zones]));
    for (const row of c.rows) {
      expect(row.vcpus).toBeGreaterThan(0);
      expect(row.memoryGb).toBeGreaterThan(0);
      expect(row.offers.length).toBeGreaterThan(0);
      for (const o of row.offers) {
        const zones = regions.get(o.region);
        expect(zones, `${row.instanceType} in ${o.region}`).toBeDefined();
        expect(o.zones.length).toBeGreaterThan(0);
        for (const z of o.zones) expect(zones).toContain(z);
        expect(o.onDemand).toBeGreaterThan(0);
        if (o.spot !== undefined) {
          expect(o.spot).toBeGreaterThan(0);
          expect(o.spot).toBeLessThan(o.onDemand);
        }
        for (const [z, p] of Object.entries(o.zoneSpot ?? {})) {
          expect(o.zones).toContain(z);
          expect(p).toBeGreaterThanOrEqual(o.spot!);
          expect(p).toBeLessThan(o.onDemand);
        }
      }
    }
    for (const f of c.defaultFamilies) expect(c.rows.some((r) => r.family === f && !r.accelerator)).toBe(true);
  });

  test('GCP N1 rows carry the acceleratorType to attach; machine types with built-in GPUs do not', () => {
    const gcp = BUILTIN_CATALOGS.find((c) => c.cloud === 'gcp')!;
    for (const r of gcp.rows) {
      if (r.family.startsWith('n1-')) expect(r.accelerator?.apiName).toMatch(/^nvidia-tesla-(t4|v100)$/);
      else expect(r.accelerator?.apiName).toBeUndefined();
    }
    const t4 = lookupInstance('gcp', 'n1-standard-8', 'us-central1', { T4: 2 })!;
    expect(t4.row.accelerator).toMatchObject({ name: 'T4', count: 2, apiName: 'nvidia-tesla-t4' });
    // the N1 price is the VM plus its GPUs
    const vm4 = lookupInstance('gcp', 'n1-standard-8', 'us-central1', { T4: 4 })!;
    expect(vm4.offer.onDemand - t4.offer.onDemand).toBeCloseTo(2 * 0.35, 4);
  });

  test('the data files are what renderCatalogModule writes (so a refresh diff shows only moved prices)', () => {
    for (const c of BUILTIN_CATALOGS) {
      const text = readFileSync(fileURLToPath(new URL(`../../core/catalog/${c.cloud}-data.ts`, import.meta.url)), 'utf8');
      expect(parseCatalogModule(text)).toEqual(c);
      expect(renderCatalogModule(c)).toBe(text);
    }
  });

  test('lookups for providers: regions, zones, zones offering a type, cheapest fit', () => {
    expect(catalogRegions('aws')).toEqual(['us-east-1', 'us-west-2', 'eu-west-1', 'ap-northeast-1']);
    expect(catalogZones('gcp', 'us-east4')).toEqual(['us-east4-a', 'us-east4-b', 'us-east4-c']);
    expect(zonesOffering('aws', 'p5.48xlarge', 'us-east-1')).toEqual(['us-east-1a', 'us-east-1b', 'us-east-1f']);
    expect(zonesOffering('aws', 'p5.48xlarge', 'eu-west-1')).toEqual([]);
    expect(lookupInstance('aws', 'nope.large', 'us-east-1')).toBeUndefined();
    expect(cheapestFit('aws', { accelerators: { T4: 1 }, useSpot: false, region: 'eu-west-1' })?.row.instanceType).toBe('g4dn.xlarge');
    expect(cheapestFit('gcp', { cpus: { value: 16, orMore: true }, useSpot: false, region: 'asia-east1' })?.row.instanceType).toBe('n2-standard-16');
    expect(cheapestFit('aws', { accelerators: { H100: 8 }, useSpot: false, region: 'eu-west-1' })).toBeUndefined();
  });
});

const report = (catalog: Catalog): RefreshReport => ({ catalog, updated: 0, notes: [] });

const SMALL: Catalog = {
  cloud: 'aws',
  fetchedAt: '2024-01-01',
  source: 'old',
  defaultFamilies: ['m6i'],
  regions: [{ name: 'us-east-1', zones: ['us-east-1a', 'us-east-1b', 'us-east-1c'] }, { name: 'eu-west-1', zones: ['eu-west-1a'] }],
  rows: [
    { instanceType: 'm6i.large', family: 'm6i', vcpus: 2, memoryGb: 8, offers: [{ region: 'us-east-1', onDemand: 0.1, spot: 0.04, zones: ['us-east-1a'] }] },
    {
      instanceType: 'p5.48xlarge',
      family: 'p5',
      vcpus: 192,
      memoryGb: 2048,
      accelerator: { name: 'H100', count: 8, memoryGb: 80, manufacturer: 'NVIDIA' },
      offers: [
        { region: 'us-east-1', onDemand: 98.32, zones: ['us-east-1a'] },
        { region: 'eu-west-1', onDemand: 100, zones: ['eu-west-1a'] },
      ],
    },
  ],
};

// The first lines of a real region price list: metadata, then the header, then one row per SKU × term.
const PRICE_LIST_CSV = [
  '"FormatVersion","v1.0"',
  '"Disclaimer","This pricing list is for informational purposes only. All prices are subject to the additional terms included in the pricing pages on http://aws.amazon.com. All Free Tier prices are also subject to the terms included at https://aws.amazon.com/free/"',
  '"Publication Date","2025-06-10T19:43:05Z"',
  '"Version","20250610194305"',
  '"OfferCode","AmazonEC2"',
  '"SKU","OfferTermCode","RateCode","TermType","PriceDescription","EffectiveDate","StartingRange","EndingRange","Unit","PricePerUnit","Currency","RelatedTo","LeaseContractLength","PurchaseOption","OfferingClass","Product Family","serviceCode","Location","Location Type","Instance Type","Current Generation","Instance Family","vCPU","Memory","Tenancy","Operating System","License Model","usageType","operation","CapacityStatus","GPU","Pre Installed S/W","Region Code"',
  '"ABC123","JRTCKXETXF","ABC123.JRTCKXETXF.6YS6EN2CT7","OnDemand","$0.096 per On Demand Linux m6i.large Instance Hour","2025-06-01","0","Inf","Hrs","0.0960000000","USD","","","","","Compute Instance","AmazonEC2","US East (N. Virginia)","AWS Region","m6i.large","Yes","General purpose","2","8 GiB","Shared","Linux","No License required","BoxUsage:m6i.large","RunInstances","Used","","NA","us-east-1"',
  '"ABC124","JRTCKXETXF","ABC124.JRTCKXETXF.6YS6EN2CT7","OnDemand","$0.188 per On Demand Windows m6i.large Instance Hour","2025-06-01","0","Inf","Hrs","0.1880000000","USD","","","","","Compute Instance","AmazonEC2","US East (N. Virginia)","AWS Region","m6i.large","Yes","General purpose","2","8 GiB","Shared","Windows","No License required","BoxUsage:m6i.large","RunInstances:0002","Used","","NA","us-east-1"',
  '"ABC125","JRTCKXETXF","ABC125.JRTCKXETXF.6YS6EN2CT7","OnDemand","$0.1056 per Dedicated Linux m6i.large Instance Hour","2025-06-01","0","Inf","Hrs","0.1056000000","USD","","","","","Compute Instance","AmazonEC2","US East (N. Virginia)","AWS Region","m6i.large","Yes","General purpose","2","8 GiB","Dedicated","Linux","No License required","DedicatedUsage:m6i.large","RunInstances","Used","","NA","us-east-1"',
  '"ABC126","JRTCKXETXF","ABC126.JRTCKXETXF.6YS6EN2CT7","OnDemand","$0.00 per Reservation Linux m6i.large Instance Hour","2025-06-01","0","Inf","Hrs","0.0000000000","USD","","","","","Compute Instance","AmazonEC2","US East (N. Virginia)","AWS Region","m6i.large","Yes","General purpose","2","8 GiB","Shared","Linux","No License required","Reservation:m6i.large","RunInstances","AllocatedCapacityReservation","","NA","us-east-1"',
  '"ABC127","4NA7Y494T4","ABC127.4NA7Y494T4.6YS6EN2CT7","Reserved","Linux/UNIX (Amazon VPC), m6i.large reserved instance applied","2025-06-01","0","Inf","Hrs","0.0600000000","USD","","1yr","No Upfront","standard","Compute Instance","AmazonEC2","US East (N. Virginia)","AWS Region","m6i.large","Yes","General purpose","2","8 GiB","Shared","Linux","No License required","BoxUsage:m6i.large","RunInstances","Used","","NA","us-east-1"',
  '"DEF456","JRTCKXETXF","DEF456.JRTCKXETXF.6YS6EN2CT7","OnDemand","$55.04 per On Demand Linux p5.48xlarge Instance Hour","2025-06-01","0","Inf","Hrs","55.0400000000","USD","","","","","Compute Instance","AmazonEC2","US East (N. Virginia)","AWS Region","p5.48xlarge","Yes","GPU instance","192","2048 GiB","Shared","Linux","No License required","BoxUsage:p5.48xlarge","RunInstances","Used","8","NA","us-east-1"',
  '"GHI789","JRTCKXETXF","GHI789.JRTCKXETXF.6YS6EN2CT7","OnDemand","$0.192 per On Demand Linux m6i.xlarge Instance Hour","2025-06-01","0","Inf","Hrs","0.1920000000","USD","","","","","Compute Instance","AmazonEC2","US East (N. Virginia)","AWS Region","m6i.xlarge","Yes","General purpose","4","16 GiB","Shared","Linux","No License required","BoxUsage:m6i.xlarge","RunInstances","Used","","NA","us-east-1"',
];

describe('AWS refresh transforms', () => {
  test('CSV lines with quotes, doubled quotes and empty fields', () => {
    expect(splitCsvLine('"a","b ""c""",,"",d')).toEqual(['a', 'b "c"', '', '', 'd']);
  });

  test('the price list reader keeps the Linux shared on-demand hourly price of wanted types only', () => {
    const reader = awsPriceListReader(new Set(['m6i.large', 'p5.48xlarge']));
    for (const line of PRICE_LIST_CSV) reader.push(line);
    expect(reader.prices()).toEqual(new Map([['m6i.large', 0.096], ['p5.48xlarge', 55.04]]));
  });

  test('spot history: the latest price per type and zone', () => {
    const spot = latestSpotPrices([
      { AvailabilityZone: 'us-east-1a', InstanceType: 'm6i.large', ProductDescription: 'Linux/UNIX', SpotPrice: '0.038000', Timestamp: new Date('2025-06-10T10:00:00Z') },
      { AvailabilityZone: 'us-east-1a', InstanceType: 'm6i.large', ProductDescription: 'Linux/UNIX', SpotPrice: '0.035000', Timestamp: new Date('2025-06-10T12:00:00Z') },
      { AvailabilityZone: 'us-east-1b', InstanceType: 'm6i.large', ProductDescription: 'Linux/UNIX', SpotPrice: '0.041000', Timestamp: '2025-06-10T11:00:00Z' },
    ] as Parameters<typeof latestSpotPrices>[0]);
    expect(spot).toEqual(new Map([['m6i.large', new Map([['us-east-1a', 0.035], ['us-east-1b', 0.041]])]]));
  });

  test('a region refreshed: new prices, spot per zone, new zones, types no longer offered dropped', () => {
    const r = report(SMALL);
    const reader = awsPriceListReader(new Set(['m6i.large', 'p5.48xlarge']));
    for (const line of PRICE_LIST_CSV) reader.push(line);
    const next = applyAwsRegion(
      SMALL,
      'us-east-1',
      {
        onDemand: reader.prices(),
        spot: latestSpotPrices([
          { AvailabilityZone: 'us-east-1b', InstanceType: 'm6i.large', SpotPrice: '0.0351', Timestamp: '2025-06-10T12:00:00Z' },
          { AvailabilityZone: 'us-east-1a', InstanceType: 'm6i.large', SpotPrice: '0.0377', Timestamp: '2025-06-10T12:00:00Z' },
        ]),
        zones: zonesByType([
          { InstanceType: 'm6i.large', Location: 'us-east-1b', LocationType: 'availability-zone' },
          { InstanceType: 'm6i.large', Location: 'us-east-1a', LocationType: 'availability-zone' },
        ] as Parameters<typeof zonesByType>[0]),
      },
      r,
    );
    expect(next.rows[0]!.offers).toEqual([
      { region: 'us-east-1', onDemand: 0.096, zones: ['us-east-1a', 'us-east-1b'], spot: 0.0351, zoneSpot: { 'us-east-1a': 0.0377 } },
    ]);
    // p5 is no longer offered in any us-east-1 zone: dropped there, kept in eu-west-1
    expect(next.rows[1]!.offers.map((o) => o.region)).toEqual(['eu-west-1']);
    expect(r.updated).toBe(1);
    expect(r.notes).toEqual(['p5.48xlarge in us-east-1: not offered any more; dropped']);
    expect(SMALL.rows[0]!.offers[0]!.onDemand).toBe(0.1);
  });
});

const sku = (description: string, usageType: string, regions: string[], units: string, nanos: number, usageUnit = 'h'): BillingSku => ({
  description,
  category: { resourceFamily: 'Compute', resourceGroup: 'CPU', usageType },
  serviceRegions: regions,
  pricingInfo: [{ pricingExpression: { usageUnit, tieredRates: [{ startUsageAmount: 0, unitPrice: { currencyCode: 'USD', units, nanos } }] } }],
});

describe('GCP refresh transforms', () => {
  const SKUS: BillingSku[] = [
    sku('N1 Predefined Instance Core running in Americas', 'OnDemand', ['us-central1'], '0', 31611000),
    sku('N1 Predefined Instance Ram running in Americas', 'OnDemand', ['us-central1'], '0', 4237000, 'GiBy.h'),
    sku('Spot Preemptible N1 Predefined Instance Core running in Americas', 'Preemptible', ['us-central1'], '0', 6655000),
    sku('Spot Preemptible N1 Predefined Instance Ram running in Americas', 'Preemptible', ['us-central1'], '0', 892000, 'GiBy.h'),
    sku('Nvidia Tesla T4 GPU running in Americas', 'OnDemand', ['us-central1'], '0', 350000000),
    sku('Spot Preemptible Nvidia Tesla T4 GPU running in Americas', 'Preemptible', ['us-central1'], '0', 140000000),
    sku('Commitment v1: Nvidia Tesla T4 GPU running in Americas for 1 Year', 'Commit1Yr', ['us-central1'], '0', 220000000),
    sku('Nvidia Tesla A100 GPU running in Americas', 'OnDemand', ['us-central1'], '2', 933908000),
    sku('A2 Instance Core running in Americas', 'OnDemand', ['us-central1'], '0', 31611000),
    sku('A2 Instance Ram running in Americas', 'OnDemand', ['us-central1'], '0', 4237000, 'GiBy.h'),
  ];
  const GCP_SMALL: Catalog = {
    cloud: 'gcp',
    fetchedAt: '2024-01-01',
    source: 'old',
    defaultFamilies: [],
    regions: [{ name: 'us-central1', zones: ['us-central1-a', 'us-central1-b'] }],
    rows: [
      {
        instanceType: 'n1-standard-4',
        family: 'n1-standard',
        vcpus: 4,
        memoryGb: 15,
        accelerator: { name: 'T4', count: 1, memoryGb: 16, manufacturer: 'NVIDIA', apiName: 'nvidia-tesla-t4' },
        offers: [{ region: 'us-central1', onDemand: 1, spot: 0.5, zones: ['us-central1-b'] }],
      },
      {
        instanceType: 'a2-highgpu-1g',
        family: 'a2-highgpu',
        vcpus: 12,
        memoryGb: 85,
        accelerator: { name: 'A100', count: 1, memoryGb: 40, manufacturer: 'NVIDIA' },
        offers: [{ region: 'us-central1', onDemand: 9, spot: 3, zones: ['us-central1-a'] }],
      },
      { instanceType: 'c3-standard-4', family: 'c3-standard', vcpus: 4, memoryGb: 16, offers: [{ region: 'us-central1', onDemand: 0.2, zones: ['us-central1-a'] }] },
    ],
  };

  test('unit prices from units + nanos', () => {
    expect(skuUnitPrice(SKUS[0]!)).toBeCloseTo(0.031611, 9);
    expect(skuUnitPrice(SKUS[7]!)).toBeCloseTo(2.933908, 9);
  });

  test('SKUs indexed by region, series and part; commitments ignored', () => {
    const index = indexSkus(SKUS).get('us-central1')!;
    expect(index.get('N1 Predefined core')).toEqual({ onDemand: 0.031611, spot: 0.006655 });
    expect(index.get('gpu Tesla T4')).toEqual({ onDemand: 0.35, spot: 0.14 });
    expect(index.get('gpu Tesla A100')).toEqual({ onDemand: 2.933908 });
  });

  test('rows priced as vCPUs + memory + GPUs; zones kept; a row missing a part keeps its old offer', () => {
    const r = report(GCP_SMALL);
    const next = applyGcpSkus(GCP_SMALL, SKUS, r);
    const [n1, a2, c3] = next.rows;
    expect(n1!.offers).toEqual([{ region: 'us-central1', onDemand: 0.539999, spot: 0.18, zones: ['us-central1-b'] }]);
    // no spot A2/A100 SKUs in the answer: on-demand only
    expect(a2!.offers).toEqual([{ region: 'us-central1', onDemand: 3.673385, zones: ['us-central1-a'] }]);
    expect(c3).toEqual(GCP_SMALL.rows[2]);
    expect(r.notes).toEqual(['c3-standard-4 in us-central1: no price in the answer; kept 0.2']);
    expect(r.updated).toBe(2);
  });
});

// Pure transforms of Cloud Billing Catalog API answers (services/6F81-5844-456A/skus, Compute
// Engine) for scripts/refresh-catalog.mjs. GCP bills a VM as vCPUs + memory + attached GPUs, so
// a row's price is put together from three SKUs, as SkyPilot's GCP fetcher does. Zones are not
// in the billing catalog: they stay as the catalog has them.
import { applyRegion, type RefreshReport } from './refresh.js';
import type { Catalog, CatalogRow } from './types.js';

export const COMPUTE_ENGINE_SERVICE = '6F81-5844-456A';

export interface BillingSku {
  description: string;
  category: { resourceFamily?: string; resourceGroup?: string; usageType: string };
  serviceRegions: string[];
  pricingInfo: Array<{
    pricingExpression: { usageUnit: string; tieredRates: Array<{ startUsageAmount?: number; unitPrice: { currencyCode: string; units?: string; nanos?: number } }> };
  }>;
}

/** USD per usage unit (hour, GiB-hour) of the SKU's first tier above zero, as the API's units + nanos. */
export function skuUnitPrice(sku: BillingSku): number | undefined {
  const expr = sku.pricingInfo.at(-1)?.pricingExpression;
  const rates = expr?.tieredRates ?? [];
  const rate = rates.find((r) => Number(r.unitPrice.units ?? 0) > 0 || (r.unitPrice.nanos ?? 0) > 0) ?? rates[0];
  if (!rate || rate.unitPrice.currencyCode !== 'USD') return undefined;
  // As one integer of nanos, so 2 units + 933908000 nanos is exactly 2.933908.
  return (Number(rate.unitPrice.units ?? 0) * 1e9 + (rate.unitPrice.nanos ?? 0)) / 1e9;
}

/** Series names as the SKU descriptions spell them, by catalog family. */
const SERIES: Record<string, string> = {
  'n1-standard': 'N1 Predefined',
  'n1-highmem': 'N1 Predefined',
  'n2-standard': 'N2',
  'n2-highmem': 'N2',
  'e2-standard': 'E2',
  'c3-standard': 'C3',
  'a2-highgpu': 'A2',
  'a2-megagpu': 'A2',
  'a2-ultragpu': 'A2',
  'g2-standard': 'G2',
  'a3-highgpu': 'A3',
  'a3-ultragpu': 'A3 Ultra',
};

/** GPU names as the SKU descriptions spell them ("Nvidia Tesla T4 GPU running in Americas"). */
const GPU: Record<string, string> = {
  T4: 'Tesla T4',
  V100: 'Tesla V100',
  A100: 'Tesla A100',
  'A100-80GB': 'A100 80GB',
  L4: 'L4',
  H100: 'H100 80GB',
  H200: 'H200 141GB',
};

const COMPONENT = /^(?:Spot Preemptible )?(.+?) Instance (Core|Ram) running in /;
const GPU_SKU = /^(?:Spot Preemptible )?Nvidia (.+?) GPU running in /;

/** region → "N2 core" / "N2 ram" / "gpu Tesla T4" → { onDemand, spot } USD per vCPU-hour, GiB-hour or GPU-hour. */
export type GcpPriceIndex = Map<string, Map<string, { onDemand?: number; spot?: number }>>;

export function indexSkus(skus: readonly BillingSku[]): GcpPriceIndex {
  const index: GcpPriceIndex = new Map();
  for (const sku of skus) {
    const usage = sku.category.usageType;
    if (usage !== 'OnDemand' && usage !== 'Preemptible') continue;
    const m = COMPONENT.exec(sku.description);
    const g = m ? undefined : GPU_SKU.exec(sku.description);
    const key = m ? `${m[1]} ${m[2]!.toLowerCase()}` : g ? `gpu ${g[1]}` : undefined;
    const price = skuUnitPrice(sku);
    if (!key || price === undefined) continue;
    for (const region of sku.serviceRegions) {
      if (!index.has(region)) index.set(region, new Map());
      const held = index.get(region)!.get(key) ?? {};
      index.get(region)!.set(key, usage === 'OnDemand' ? { ...held, onDemand: price } : { ...held, spot: price });
    }
  }
  return index;
}

/** A row's hourly price in a region from the index; undefined when a part is missing. */
export function gcpRowPrice(row: CatalogRow, region: string, index: GcpPriceIndex): { onDemand: number; spot?: number } | undefined {
  const series = SERIES[row.family];
  const prices = index.get(region);
  if (!series || !prices) return undefined;
  const core = prices.get(`${series} core`);
  const ram = prices.get(`${series} ram`);
  const gpu = row.accelerator ? prices.get(`gpu ${GPU[row.accelerator.name] ?? row.accelerator.name}`) : { onDemand: 0, spot: 0 };
  if (core?.onDemand === undefined || ram?.onDemand === undefined || gpu?.onDemand === undefined) return undefined;
  const gpus = row.accelerator?.count ?? 0;
  const onDemand = row.vcpus * core.onDemand + row.memoryGb * ram.onDemand + gpus * gpu.onDemand;
  const spotParts = [core.spot, ram.spot, gpu.spot];
  const spot = spotParts.every((p) => p !== undefined) ? row.vcpus * core.spot! + row.memoryGb * ram.spot! + gpus * gpu.spot! : undefined;
  return { onDemand, ...(spot !== undefined ? { spot } : {}) };
}

/** Every region of the catalog re-priced from the SKUs; rows missing a part keep their old offer. */
export function applyGcpSkus(catalog: Catalog, skus: readonly BillingSku[], report: RefreshReport): Catalog {
  const index = indexSkus(skus);
  let next = catalog;
  for (const { name: region } of catalog.regions) {
    next = applyRegion(
      next,
      region,
      (row) => {
        if (!row.offers.some((o) => o.region === region)) return undefined;
        const p = gcpRowPrice(row, region, index);
        if (!p) return undefined;
        return { onDemand: p.onDemand, ...(p.spot !== undefined ? { spot: new Map([['*', p.spot]]) } : {}) };
      },
      report,
    );
  }
  return next;
}

// The shape of a cloud's price catalog: what can be bought where, and for how much. Plain JSON
// (it is written by scripts/refresh-catalog.mjs as a TS module and travels in plans).

export type PricedCloud = 'aws' | 'gcp';

export interface CatalogAccelerator {
  /** as SkyPilot spells it: T4, L4, A10G, V100, V100-32GB, A100, A100-80GB, H100, H200 */
  name: string;
  /** per instance */
  count: number;
  /** per device */
  memoryGb: number;
  manufacturer: string;
  /** GCP: the acceleratorType to attach (guestAccelerators) when the machine type does not imply it, e.g. nvidia-tesla-t4 */
  apiName?: string;
}

export interface RegionOffer {
  region: string;
  /** USD per instance-hour */
  onDemand: number;
  /** USD per instance-hour; absent = no spot offer in this region */
  spot?: number;
  /** zones of the region that offer this row, in the catalog's zone order */
  zones: string[];
  /** spot price per zone where it differs from `spot` (AWS prices spot per zone) */
  zoneSpot?: Record<string, number>;
}

/**
 * One purchasable row: an instance type (GCP: a machine type plus the accelerator attached to
 * it, so n1-standard-8 appears once per T4/V100 count) and where it is offered.
 */
export interface CatalogRow {
  instanceType: string;
  /** m6i, g5, n2-standard, a2-highgpu … */
  family: string;
  vcpus: number;
  memoryGb: number;
  accelerator?: CatalogAccelerator;
  offers: RegionOffer[];
}

export interface CatalogRegion {
  name: string;
  zones: string[];
}

export interface Catalog {
  cloud: PricedCloud;
  /** when the prices were taken (ISO date) */
  fetchedAt: string;
  /** where they came from, in words */
  source: string;
  /** in preference order (ties in price keep this order) */
  regions: CatalogRegion[];
  /**
   * Families a request with neither accelerators nor instance_type is served from
   * (SkyPilot's _DEFAULT_INSTANCE_FAMILY); others only by naming their instance_type.
   */
  defaultFamilies: string[];
  rows: CatalogRow[];
}

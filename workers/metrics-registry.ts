// Petrel's own Prometheus metrics, in one registry per worker process. Counters and histograms
// are fed where the event happens (the activity interceptor in metrics-activities.ts, and the
// typed functions below for code that cannot be intercepted); the gauges of what exists
// cluster-wide (jobs by status, clusters up, cost, recoveries) are set from visibility
// (metrics-census.ts). Cheap to import: nothing runs until a worker starts its endpoint, and
// every function here is a no-op cost when nobody scrapes.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();

/** Managed jobs (and pipelines) by status and infra, from visibility: the same on every worker. */
export const jobsGauge = new Gauge({
  name: 'petrel_jobs',
  help: 'Managed jobs by status and infra (cluster-wide, from Temporal visibility; identical on every worker)',
  labelNames: ['status', 'infra'] as const,
  registers: [registry],
});

/** Clusters (`petrel launch`) whose status is UP, by infra, from visibility. */
export const clustersUpGauge = new Gauge({
  name: 'petrel_clusters_up',
  help: 'Clusters in status UP by infra (cluster-wide, from Temporal visibility)',
  labelNames: ['infra'] as const,
  registers: [registry],
});

/**
 * Recoveries of managed jobs by cause, summed over every job visibility still holds: a
 * cluster-wide figure that only grows while closed jobs are retained (a drop reads as a reset).
 */
export const recoveriesCounter = new Counter({
  name: 'petrel_job_recoveries_total',
  help: 'Recoveries of managed jobs by cause (preempted, unreachable, terminated, exit_code, unknown), cluster-wide from visibility',
  labelNames: ['cause'] as const,
  registers: [registry],
});

/** USD accrued by every cluster and managed job, priced as `petrel cost-report` prices them. */
export const costCounter = new Counter({
  name: 'petrel_cost_usd_total',
  help: 'USD accrued by clusters and managed jobs (cluster-wide, from the cost memo of each workflow)',
  registers: [registry],
});

/** When the census last completed: an alert can tell stale gauges from quiet ones. */
export const censusTimestamp = new Gauge({
  name: 'petrel_census_last_success_timestamp_seconds',
  help: 'Unix time of the last successful visibility census behind petrel_jobs, petrel_clusters_up, petrel_cost_usd_total and petrel_job_recoveries_total',
  registers: [registry],
});

const provisionSeconds = new Histogram({
  name: 'petrel_provision_seconds',
  help: 'Time a successful provisionCluster activity attempt took, by infra (this worker)',
  labelNames: ['infra'] as const,
  buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200],
  registers: [registry],
});

const detectionSeconds = new Histogram({
  name: 'petrel_loss_detection_seconds',
  help: 'Time from the last status round that saw a node up to the round that reported it lost (this worker)',
  buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300],
  registers: [registry],
});

const capacityErrors = new Counter({
  name: 'petrel_capacity_errors_total',
  help: 'Capacity and quota refusals of provisionCluster by infra and region (this worker)',
  labelNames: ['infra', 'region'] as const,
  registers: [registry],
});

/** A provisionCluster attempt that succeeded after `seconds`. */
export function observeProvision(infra: string, seconds: number): void {
  provisionSeconds.observe({ infra }, seconds);
}

/** The infrastructure had no capacity (or quota) in `region` ('' when the request named none). */
export function countCapacityError(infra: string, region: string): void {
  capacityErrors.inc({ infra, region });
}

/** A watcher reported a node lost `seconds` after it last saw it up. */
export function observeDetection(seconds: number): void {
  detectionSeconds.observe(seconds);
}

/**
 * Replaces the values of a counter that is really a cluster-wide total recomputed from
 * visibility. Synchronous, so no scrape sees it half-set.
 */
export function setTotals<L extends string>(counter: Counter<L>, totals: Array<{ labels: Partial<Record<L, string>>; value: number }>): void {
  counter.reset();
  for (const t of totals) counter.inc(t.labels, Math.max(0, t.value));
}

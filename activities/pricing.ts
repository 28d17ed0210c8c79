// What a provisioned cluster's node costs, from the catalog: kept on the handle so the
// workflows can bill the time its machines run (core/cost.ts) without a catalog of their own.
import { lookupInstance, offerPrice } from '../core/catalog/index.js';
import type { ClusterHandle } from '../core/cluster-state.js';
import type { ProvisionRequest } from '../providers/types.js';

/** The handle with `price` set where the catalog knows the instance; unchanged elsewhere (free infra). */
export function withPrice(handle: ClusterHandle, req: ProvisionRequest & { provider: string }): ClusterHandle {
  const instanceType = req.instanceType ?? handle.nodes[0]?.data.instance_type;
  if (!instanceType || !handle.region) return handle;
  const found = lookupInstance(req.provider, instanceType, handle.region, req.accelerators);
  if (!found) return handle;
  const hourly = offerPrice(found.offer, req.useSpot, handle.zone);
  if (hourly === undefined) return handle;
  return { ...handle, price: { instanceType, spot: req.useSpot, hourly } };
}

// ClusterLoadAssignment validation, for EDS resources and for a STATIC or DNS cluster's
// inline load_assignment: every endpoint a socket address the sidecar can connect to,
// weights that can be picked, and priorities that form a failover order.

import { at, type Rec } from "../../api/validate-common.js";
import { checkSocketAddress, nonEmpty, uint32, type XdsCheck } from "./validate-shared.js";

/**
 * Checks `assignment` at `path` ("" for an EDS resource) and returns how many endpoints it
 * has. Only the DNS cluster types may name endpoints by `hostnames`.
 */
export function checkLoadAssignment(
  c: XdsCheck,
  assignment: Rec,
  path: string,
  hostnames = false,
): number {
  nonEmpty(c, assignment.cluster_name, at(path, "cluster_name"));
  const endpointsPath = at(path, "endpoints");
  const priorities = new Set<number>();
  let count = 0;
  for (const [locality, lp] of c.maps(assignment.endpoints, endpointsPath)) {
    // priority is a uint32 on the wire, so it cannot be negative; gaps are what can go wrong.
    priorities.add(Number(locality.priority ?? 0));
    checkWeight(c, locality.load_balancing_weight, at(lp, "load_balancing_weight"));
    for (const [lbEndpoint, ep] of c.maps(locality.lb_endpoints, at(lp, "lb_endpoints"))) {
      count++;
      const endpointPath = at(ep, "endpoint");
      const endpoint = c.map(lbEndpoint.endpoint, endpointPath, { required: true });
      if (endpoint) checkSocketAddress(c, endpoint.address, at(endpointPath, "address"), hostnames);
      checkWeight(c, lbEndpoint.load_balancing_weight, at(ep, "load_balancing_weight"));
    }
  }
  // Failover walks the priorities 0, 1, 2…: a gap leaves the levels after it unreachable.
  const sorted = [...priorities].sort((a, b) => a - b);
  const gap = sorted.findIndex((p, i) => p !== i);
  if (gap !== -1) {
    c.add(endpointsPath, `priorities must run from 0 without gaps, but ${gap} is missing`);
  }
  return count;
}

/** A load_balancing_weight, when set, is at least 1: 0 would take its endpoints out silently. */
function checkWeight(c: XdsCheck, v: unknown, path: string): void {
  const weight = uint32(v);
  if (weight !== undefined && weight < 1) {
    c.add(path, `must be at least 1 when set, got ${weight} (leave it out for the default)`);
  }
}

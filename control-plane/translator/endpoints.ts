// EndpointSlices → ClusterLoadAssignments, and the SPIFFE identities behind a Service.
// Endpoints are grouped by locality (zone, node) with weight 1 each — gRPC's xDS client
// requires locality weights — and carry Istio's tlsMode metadata when their pod has a
// sidecar, which is what the outbound cluster's auto-mTLS socket matches read.

import type { EndpointSlice, Pod, ServicePort } from "../../api/types.js";
import type { XdsMessage } from "../../api/xds-proto.js";
import { Annotation } from "../../cni-redirect/redirect-config.js";
import { compareStrings } from "./model.js";
import {
  spiffeId,
  TLS_MODE_ISTIO,
  TRANSPORT_SOCKET_MATCH_KEY,
  TRELLIS_METADATA_KEY,
} from "./names.js";
import { Enum, socketAddress, stringStruct, wrap } from "./proto.js";

/** The pod an endpoint's targetRef names, if the model has it. */
function targetPod(
  endpoint: EndpointSlice["endpoints"][number],
  podByKey: ReadonlyMap<string, Pod>,
): Pod | undefined {
  const ref = endpoint.targetRef;
  return ref?.kind === "Pod" ? podByKey.get(`${ref.namespace}/${ref.name}`) : undefined;
}

export function hasSidecar(pod: Pod | undefined): boolean {
  return pod?.metadata.annotations?.[Annotation.inject] === "true";
}

/**
 * `spiffe://<td>/ns/<ns>/sa/<sa>` of every pod behind the slices (sorted, deduplicated):
 * the peer identities a client sidecar accepts for the Service. Endpoints without a known
 * pod contribute nothing — they get no tlsMode metadata either, so they are dialled in
 * plaintext and never validated against this list.
 */
export function serviceIdentities(
  slices: readonly EndpointSlice[],
  podByKey: ReadonlyMap<string, Pod>,
  trustDomain: string,
): string[] {
  const ids = new Set<string>();
  for (const slice of slices) {
    for (const endpoint of slice.endpoints) {
      const pod = targetPod(endpoint, podByKey);
      if (!pod) continue;
      ids.add(
        spiffeId(
          trustDomain,
          pod.metadata.namespace ?? "default",
          pod.spec.serviceAccountName || "default",
        ),
      );
    }
  }
  return [...ids].sort(compareStrings);
}

/**
 * The endpoints of one Service port. Not-serving endpoints are left out; ready → HEALTHY,
 * serving but not ready (terminating) → DRAINING, which Envoy and gRPC use only when
 * nothing healthy is left (Envoy) or never (gRPC). An address seen in two slices is listed
 * once (gRPC NACKs duplicates), the ready copy winning. A Service without endpoints still
 * gets its (empty) assignment, so that its EDS cluster is complete.
 */
export function loadAssignment(
  clusterName: string,
  servicePort: ServicePort,
  slices: readonly EndpointSlice[],
  podByKey: ReadonlyMap<string, Pod>,
): XdsMessage {
  const wanted = servicePort.name ?? "";
  const byLocality = new Map<
    string,
    { zone: string; node: string; eps: Map<string, XdsMessage> }
  >();
  const seen = new Map<string, { ready: boolean; locality: string }>();
  for (const slice of slices) {
    if (slice.addressType === "FQDN") continue; // gRPC and Envoy EDS need IP literals
    const port = slice.ports?.find((p) => (p.name ?? "") === wanted)?.port;
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints) {
      const address = endpoint.addresses[0]; // the rest are fungible copies (discovery.k8s.io)
      const ready = endpoint.conditions?.ready ?? true;
      const serving = endpoint.conditions?.serving ?? ready;
      if (address === undefined || !serving) continue;
      const previous = seen.get(address);
      if (previous && (previous.ready || !ready)) continue;
      if (previous) byLocality.get(previous.locality)?.eps.delete(address);
      const zone = endpoint.zone ?? "";
      const node = endpoint.nodeName ?? "";
      const key = `${zone}\u0000${node}`;
      let locality = byLocality.get(key);
      if (!locality) {
        locality = { zone, node, eps: new Map() };
        byLocality.set(key, locality);
      }
      seen.set(address, { ready, locality: key });
      const meshed = hasSidecar(targetPod(endpoint, podByKey));
      locality.eps.set(address, lbEndpoint(address, port, ready, endpoint.targetRef, meshed));
    }
  }
  const localities = [...byLocality.entries()]
    .filter(([, l]) => l.eps.size > 0)
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([, l]) => ({
      locality: { region: "", zone: l.zone, sub_zone: l.node },
      lb_endpoints: [...l.eps.entries()]
        .sort(([a], [b]) => compareStrings(a, b))
        .map(([, message]) => message),
      load_balancing_weight: wrap(1),
    }));
  return { cluster_name: clusterName, endpoints: localities };
}

function lbEndpoint(
  address: string,
  port: number,
  ready: boolean,
  ref: EndpointSlice["endpoints"][number]["targetRef"],
  meshed: boolean,
): XdsMessage {
  const filterMetadata: Record<string, XdsMessage> = {};
  if (meshed) filterMetadata[TRANSPORT_SOCKET_MATCH_KEY] = stringStruct(TLS_MODE_ISTIO);
  if (ref) {
    filterMetadata[TRELLIS_METADATA_KEY] = stringStruct({
      pod: ref.name,
      namespace: ref.namespace,
    });
  }
  return {
    endpoint: { address: socketAddress(address, port) },
    health_status: ready ? Enum.HEALTHY : Enum.DRAINING,
    ...(Object.keys(filterMetadata).length > 0
      ? { metadata: { filter_metadata: filterMetadata } }
      : {}),
  };
}

/** The serving IP:port pairs of one Service port (a headless Service's direct destinations). */
export function servingAddresses(
  servicePort: ServicePort,
  slices: readonly EndpointSlice[],
): { address: string; port: number }[] {
  const wanted = servicePort.name ?? "";
  const out: { address: string; port: number }[] = [];
  for (const slice of slices) {
    if (slice.addressType === "FQDN") continue;
    const port = slice.ports?.find((p) => (p.name ?? "") === wanted)?.port;
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints) {
      const address = endpoint.addresses[0];
      const serving = endpoint.conditions?.serving ?? endpoint.conditions?.ready ?? true;
      if (address !== undefined && serving) out.push({ address, port });
    }
  }
  return out;
}

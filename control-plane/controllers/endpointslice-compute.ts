// The pure rule of the EndpointSlice controller, as Kubernetes' endpointslice controller
// applies it: which pods of a Service are endpoints, what their conditions and ports are,
// and how they are grouped into slices (by address family and resolved port set, at most
// 100 each, with deterministic names). endpointslice.ts keeps the store equal to it.

import { createHash } from "node:crypto";
import { ipFamily, ipToBigInt } from "../../api/ip.js";
import { matchesLabelMap } from "../../api/labels.js";
import {
  type Endpoint,
  type EndpointPort,
  type EndpointSlice,
  MANAGED_BY_LABEL,
  type Pod,
  SERVICE_NAME_LABEL,
  type Service,
  type ServicePort,
} from "../../api/types.js";

/** The managed-by label value that marks a slice as this controller's. */
export const CONTROLLER_NAME = "endpointslice-controller.trellis.dev";
export const MAX_ENDPOINTS_PER_SLICE = 100;

/** Whether the controller computes this Service's slices (else they are the user's). */
export function isManagedService(service: Service): boolean {
  const selector = service.spec.selector;
  return (
    selector !== undefined &&
    Object.keys(selector).length > 0 &&
    service.spec.type !== "ExternalName"
  );
}

/** Whether a slice was made by this controller. */
export function isManagedSlice(slice: EndpointSlice): boolean {
  return slice.metadata.labels?.[MANAGED_BY_LABEL] === CONTROLLER_NAME;
}

/**
 * The slices `service` should have, given every pod (pods of other namespaces and pods
 * the selector does not pick are ignored). Deterministic: the same input gives the same
 * slices, names and order. Services without a selector get none (their slices are the
 * user's), and so does ExternalName.
 */
export function computeEndpointSlices(service: Service, pods: readonly Pod[]): EndpointSlice[] {
  if (!isManagedService(service)) return [];
  const namespace = service.metadata.namespace ?? "default";
  const groups = new Map<string, Group>();
  for (const pod of pods) {
    if ((pod.metadata.namespace ?? "default") !== namespace) continue;
    if (!matchesLabelMap(service.spec.selector, pod.metadata.labels)) continue;
    // Finished pods never serve again (Kubernetes drops them too).
    if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") continue;
    const ports = endpointPortsFor(service.spec.ports ?? [], pod);
    for (const ip of podIps(pod)) {
      const addressType = ipFamily(ip);
      if (addressType === undefined) continue;
      const id = JSON.stringify([addressType, ports]);
      const group = groups.get(id) ?? { addressType, ports, endpoints: [] };
      groups.set(id, group);
      group.endpoints.push(endpointOf(pod, ip));
    }
  }
  const slices: EndpointSlice[] = [];
  for (const id of [...groups.keys()].sort()) {
    const group = groups.get(id) as Group;
    group.endpoints.sort((a, b) => compareAddresses(a.addresses[0] ?? "", b.addresses[0] ?? ""));
    for (let i = 0; i * MAX_ENDPOINTS_PER_SLICE < group.endpoints.length; i++) {
      const endpoints = group.endpoints.slice(
        i * MAX_ENDPOINTS_PER_SLICE,
        (i + 1) * MAX_ENDPOINTS_PER_SLICE,
      );
      slices.push(sliceOf(service, namespace, group, i, endpoints));
    }
  }
  return slices;
}

interface Group {
  readonly addressType: "IPv4" | "IPv6";
  readonly ports: EndpointPort[];
  readonly endpoints: Endpoint[];
}

/**
 * The pod's port for each Service port: a number as it is, a name through the pod's
 * container ports (same name and protocol). A port the pod cannot resolve is left out
 * of its set, so the pod lands in a slice without it — Kubernetes' behaviour.
 */
function endpointPortsFor(servicePorts: readonly ServicePort[], pod: Pod): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of servicePorts) {
    const protocol = sp.protocol ?? "TCP";
    const target = sp.targetPort ?? sp.port;
    const port = typeof target === "number" ? target : namedPort(pod, target, protocol);
    if (port === undefined) continue;
    const ep: EndpointPort = { name: sp.name ?? "", protocol, port };
    if (sp.appProtocol !== undefined) ep.appProtocol = sp.appProtocol;
    out.push(ep);
  }
  return out;
}

function namedPort(pod: Pod, name: string, protocol: string): number | undefined {
  for (const container of pod.spec.containers ?? []) {
    for (const cp of container.ports ?? []) {
      if (cp.name === name && (cp.protocol ?? "TCP") === protocol) return cp.containerPort;
    }
  }
  return undefined;
}

/** The pod's addresses, at most one per family (status.podIPs, else status.podIP). */
function podIps(pod: Pod): string[] {
  const listed = pod.status?.podIPs?.map((p) => p.ip) ?? [];
  const all = listed.length > 0 ? listed : pod.status?.podIP ? [pod.status.podIP] : [];
  const byFamily = new Map<string, string>();
  for (const ip of all) {
    const family = ipFamily(ip);
    if (family !== undefined && !byFamily.has(family)) byFamily.set(family, ip);
  }
  return [...byFamily.values()];
}

function endpointOf(pod: Pod, ip: string): Endpoint {
  const podReady =
    pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  const terminating = pod.metadata.deletionTimestamp !== undefined;
  const endpoint: Endpoint = {
    addresses: [ip],
    conditions: { ready: podReady && !terminating, serving: podReady, terminating },
  };
  if (pod.spec.nodeName !== undefined) endpoint.nodeName = pod.spec.nodeName;
  endpoint.targetRef = {
    kind: "Pod",
    namespace: pod.metadata.namespace ?? "default",
    name: pod.metadata.name,
  };
  if (pod.metadata.uid !== undefined) endpoint.targetRef.uid = pod.metadata.uid;
  return endpoint;
}

function sliceOf(
  service: Service,
  namespace: string,
  group: Group,
  index: number,
  endpoints: Endpoint[],
): EndpointSlice {
  const hash = createHash("sha256")
    .update(JSON.stringify([group.addressType, group.ports, index]))
    .digest("hex")
    .slice(0, 10);
  const slice: EndpointSlice = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${service.metadata.name}-${hash}`,
      namespace,
      labels: { [SERVICE_NAME_LABEL]: service.metadata.name, [MANAGED_BY_LABEL]: CONTROLLER_NAME },
    },
    addressType: group.addressType,
    endpoints,
    ports: group.ports,
  };
  if (service.metadata.uid !== undefined) {
    slice.metadata.ownerReferences = [
      {
        apiVersion: "v1",
        kind: "Service",
        name: service.metadata.name,
        uid: service.metadata.uid,
        controller: true,
      },
    ];
  }
  return slice;
}

function compareAddresses(a: string, b: string): number {
  const x = ipToBigInt(a);
  const y = ipToBigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

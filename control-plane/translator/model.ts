// The translator's input — every resource the mesh configuration depends on, plus the
// mesh options — and the lookup tables built from it once per compile, so that the
// per-resource and per-proxy work is Map lookups rather than scans of the model.

import type {
  AuthorizationPolicy,
  EndpointSlice,
  GRPCRoute,
  HTTPRoute,
  Namespace,
  PeerAuthentication,
  Pod,
  Service,
} from "../../api/types.js";
import { SERVICE_NAME_LABEL } from "../../api/types.js";

export interface MeshModel {
  readonly namespaces: readonly Namespace[];
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly pods: readonly Pod[];
  readonly httpRoutes: readonly HTTPRoute[];
  readonly grpcRoutes: readonly GRPCRoute[];
  readonly peerAuthentications: readonly PeerAuthentication[];
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
}

export interface TranslateOptions {
  /** SPIFFE trust domain, "cluster.local" by default. */
  readonly trustDomain: string;
  /** Kubernetes cluster domain of Service hosts, "cluster.local". */
  readonly clusterDomain: string;
  /** Where outbound traffic to unknown destinations goes: PassthroughCluster or BlackHoleCluster. */
  readonly outboundTrafficPolicy: "ALLOW_ANY" | "REGISTRY_ONLY";
  /** PEM of the mesh's trust anchors, served to sidecars as the ROOTCA secret. */
  readonly trustBundlePem: string;
}

export const DEFAULT_OPTIONS: Omit<TranslateOptions, "trustBundlePem"> = {
  trustDomain: "cluster.local",
  clusterDomain: "cluster.local",
  outboundTrafficPolicy: "ALLOW_ANY",
};

/** Why part of the model did not turn into the configuration it asked for. */
export type TranslateWarningCode =
  | "ROUTE_PARENT_NOT_FOUND"
  | "ROUTE_PORT_NOT_HTTP"
  | "BACKEND_NOT_FOUND"
  | "AUTHZ_UNSUPPORTED_CONDITION"
  | "DUPLICATE_LISTENER_MATCH"
  | "UNSUPPORTED_ANNOTATION";

/** A problem in the model the translator worked around; it never stops translation. */
export interface TranslateWarning {
  readonly code: TranslateWarningCode;
  /** The resource at fault, as "Kind/namespace/name". */
  readonly resource: string;
  readonly message: string;
}

/** Lookup tables over a MeshModel; every list is in a stable (namespace, name) order. */
export interface MeshIndex {
  readonly services: readonly Service[];
  readonly serviceByKey: ReadonlyMap<string, Service>;
  readonly servicesByNamespace: ReadonlyMap<string, readonly Service[]>;
  readonly podByKey: ReadonlyMap<string, Pod>;
  /** Keyed by the Service's "namespace/name" (the slice's kubernetes.io/service-name label). */
  readonly slicesByService: ReadonlyMap<string, readonly EndpointSlice[]>;
  readonly peerAuthenticationsByNamespace: ReadonlyMap<string, readonly PeerAuthentication[]>;
  readonly authorizationPoliciesByNamespace: ReadonlyMap<string, readonly AuthorizationPolicy[]>;
  readonly httpRoutes: readonly HTTPRoute[];
  readonly grpcRoutes: readonly GRPCRoute[];
}

/** The namespace of a namespaced object (parsing defaults it; models built by hand may not). */
export function namespaceOf(obj: { metadata: { namespace?: string } }): string {
  return obj.metadata.namespace ?? "default";
}

export function objectKey(obj: { metadata: { name: string; namespace?: string } }): string {
  return `${namespaceOf(obj)}/${obj.metadata.name}`;
}

/** "Kind/namespace/name", as warnings name resources. */
export function resourceRef(obj: {
  kind: string;
  metadata: { name: string; namespace?: string };
}): string {
  return `${obj.kind}/${objectKey(obj)}`;
}

function sortedByKey<T extends { metadata: { name: string; namespace?: string } }>(
  items: readonly T[],
): T[] {
  return [...items].sort((a, b) => compareStrings(objectKey(a), objectKey(b)));
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** map.get(key), after setting it to make() if absent. */
export function getOrCreate<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

export function indexModel(model: MeshModel): MeshIndex {
  const services = sortedByKey(model.services);
  const slices = sortedByKey(model.endpointSlices).filter(
    (s) => s.metadata.labels?.[SERVICE_NAME_LABEL] !== undefined,
  );
  return {
    services,
    serviceByKey: new Map(services.map((s) => [objectKey(s), s])),
    servicesByNamespace: groupBy(services, namespaceOf),
    podByKey: new Map(model.pods.map((p) => [objectKey(p), p])),
    slicesByService: groupBy(
      slices,
      (s) => `${namespaceOf(s)}/${s.metadata.labels?.[SERVICE_NAME_LABEL]}`,
    ),
    peerAuthenticationsByNamespace: groupBy(sortedByKey(model.peerAuthentications), namespaceOf),
    authorizationPoliciesByNamespace: groupBy(
      sortedByKey(model.authorizationPolicies),
      namespaceOf,
    ),
    httpRoutes: sortedByKey(model.httpRoutes),
    grpcRoutes: sortedByKey(model.grpcRoutes),
  };
}

/** Oldest first (Kubernetes' tie-breaker), then by namespace/name. */
export function compareAge(
  a: { metadata: { name: string; namespace?: string; creationTimestamp?: string } },
  b: { metadata: { name: string; namespace?: string; creationTimestamp?: string } },
): number {
  const ta = a.metadata.creationTimestamp ?? "";
  const tb = b.metadata.creationTimestamp ?? "";
  if (ta !== tb) {
    // An object without a timestamp has not been stored yet: the newest.
    if (ta === "") return 1;
    if (tb === "") return -1;
    return compareStrings(ta, tb);
  }
  return compareStrings(objectKey(a), objectKey(b));
}

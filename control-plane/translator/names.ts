// The names the translator gives to xDS resources, Istio's conventions so existing tooling
// (istioctl proxy-config, dashboards, Kiali) reads them: Service hosts, cluster names
// "outbound|<port>||<host>", route configuration names "<host>:<port>", SNI, SPIFFE IDs,
// and the fixed names of the special clusters, listeners and secrets.

/** `<svc>.<ns>.svc.<clusterDomain>`. */
export function serviceHost(name: string, namespace: string, clusterDomain: string): string {
  return `${name}.${namespace}.svc.${clusterDomain}`;
}

/** The EDS cluster (and its ClusterLoadAssignment) of one Service port. */
export function outboundClusterName(port: number, host: string): string {
  return `outbound|${port}||${host}`;
}

/** The sidecar's cluster to its own app on 127.0.0.1:<port>. */
export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

/** RouteConfiguration of one HTTP-like Service port; also the proxyless API listener's name. */
export function routeConfigName(host: string, port: number): string {
  return `${host}:${port}`;
}

/** The SNI a sidecar sends to a meshed endpoint of a Service port (Istio's form). */
export function outboundSni(port: number, host: string): string {
  return `outbound_.${port}_._.${host}`;
}

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** ORIGINAL_DST cluster for outbound traffic to unknown destinations (ALLOW_ANY). */
export const PASSTHROUGH_CLUSTER = "PassthroughCluster";
/** STATIC cluster without endpoints: connections to it fail (REGISTRY_ONLY). */
export const BLACKHOLE_CLUSTER = "BlackHoleCluster";
/** ORIGINAL_DST cluster for inbound traffic to ports no chain knows (not STRICT). */
export const INBOUND_PASSTHROUGH_CLUSTER = "InboundPassthroughCluster";
/**
 * Deliberately never defined: a route's share for a backendRef that does not resolve (no
 * such Service or port, weight-0-only rules) names it, and the route carries
 * cluster_not_found_response_code INTERNAL_SERVER_ERROR, so Envoy answers 500 as Gateway
 * API requires; a gRPC client fails those RPCs with UNAVAILABLE. (A direct_response would
 * make grpc-js NACK the whole RouteConfiguration.)
 */
export const INVALID_BACKEND_CLUSTER = "InvalidBackendCluster";
/** Cluster names a route or tcp_proxy may name without the snapshot defining them. */
export const SPECIAL_CLUSTERS: ReadonlySet<string> = new Set([
  PASSTHROUGH_CLUSTER,
  BLACKHOLE_CLUSTER,
  INVALID_BACKEND_CLUSTER,
]);

export const VIRTUAL_OUTBOUND_LISTENER = "virtualOutbound";
export const VIRTUAL_INBOUND_LISTENER = "virtualInbound";

/** The trust bundle, served over ADS by the control plane. */
export const ROOT_CA_SECRET = "ROOTCA";
/** The sidecar's own SVID, served by the sidecar's local SDS (never by the control plane). */
export const WORKLOAD_SECRET = "default";
/** The sidecar's bootstrap cluster for its local SDS server. */
export const SDS_GRPC_CLUSTER = "sds-grpc";

/** Endpoint metadata the auto-mTLS transport_socket_matches read (Istio's key and value). */
export const TRANSPORT_SOCKET_MATCH_KEY = "envoy.transport_socket_match";
export const TLS_MODE_ISTIO = { tlsMode: "istio" } as const;
/** Endpoint metadata namespace for observability: the pod behind an endpoint. */
export const TRELLIS_METADATA_KEY = "trellis";

/** The root namespace: mesh-wide PeerAuthentication and AuthorizationPolicy. */
export { ROOT_NAMESPACE } from "../../api/types.js";

// Clusters: one EDS cluster per Service port ("outbound|<port>||<host>") in two variants —
// with Istio's auto-mTLS socket matches for sidecars, plaintext for proxyless gRPC — the
// sidecar's inbound clusters to its own app, and the special clusters every sidecar has.

import type { XdsMessage } from "../../api/xds-proto.js";
import {
  BLACKHOLE_CLUSTER,
  INBOUND_PASSTHROUGH_CLUSTER,
  inboundClusterName,
  PASSTHROUGH_CLUSTER,
} from "./names.js";
import { ADS_CONFIG_SOURCE, any, duration, Enum, socketAddress, Type } from "./proto.js";
import { needsHttp2, type PortProtocol } from "./protocol.js";
import { autoMtlsSocketMatches } from "./tls.js";

const CONNECT_TIMEOUT = duration(10_000);

/** Upstream HTTP/2 with prior knowledge (h2c to the app, or h2 inside mTLS). */
const HTTP2_PROTOCOL_OPTIONS: XdsMessage = {
  [Type.HttpProtocolOptions]: any(Type.HttpProtocolOptions, {
    explicit_http_config: { http2_protocol_options: {} },
  }),
};

function protocolOptions(protocol: PortProtocol): XdsMessage {
  return needsHttp2(protocol) ? { typed_extension_protocol_options: HTTP2_PROTOCOL_OPTIONS } : {};
}

/**
 * The balancing policies a Service may ask for with the trellis.dev/lb-policy annotation
 * (Istio's DestinationRule loadBalancer.simple, and RING_HASH for its consistentHash, with
 * what to hash from trellis.dev/hash-on). gRPC's xDS clients implement only ROUND_ROBIN and
 * RING_HASH: a proxyless client NACKs the others, and keeps its last config.
 */
export const LB_POLICIES = ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH"] as const;
export type LbPolicy = (typeof LB_POLICIES)[number];
export const LB_POLICY_ANNOTATION = "trellis.dev/lb-policy";

/** What a Service's annotations ask of its clusters. */
export interface ClusterPolicy {
  readonly lbPolicy?: LbPolicy;
  readonly outlierDetection?: XdsMessage;
  readonly circuitBreakers?: XdsMessage;
}

/**
 * The EDS cluster of a Service port. `tls` (an UpstreamTlsContext) makes it the sidecar
 * variant: TLS to endpoints with tlsMode=istio metadata, plaintext to the others. Without
 * it the cluster is plaintext, as proxyless gRPC clients (and grpc-js' validation, which
 * rejects SDS certificates) need.
 */
export function outboundCluster(
  name: string,
  protocol: PortProtocol,
  tls: XdsMessage | undefined,
  policy: ClusterPolicy = {},
): XdsMessage {
  return {
    name,
    type: Enum.EDS,
    eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE, service_name: name },
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: Enum[policy.lbPolicy ?? "ROUND_ROBIN"],
    ...protocolOptions(protocol),
    ...(tls ? { transport_socket_matches: autoMtlsSocketMatches(tls) } : {}),
    ...(policy.outlierDetection ? { outlier_detection: policy.outlierDetection } : {}),
    ...(policy.circuitBreakers ? { circuit_breakers: policy.circuitBreakers } : {}),
  };
}

/** The sidecar's cluster to its app on 127.0.0.1:<port>. */
export function inboundCluster(port: number, protocol: PortProtocol): XdsMessage {
  const name = inboundClusterName(port);
  return {
    name,
    type: Enum.STATIC,
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: Enum.ROUND_ROBIN,
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress("127.0.0.1", port) } }] }],
    },
    ...protocolOptions(protocol),
  };
}

function originalDestination(name: string): XdsMessage {
  return {
    name,
    type: Enum.ORIGINAL_DST,
    lb_policy: Enum.CLUSTER_PROVIDED,
    connect_timeout: CONNECT_TIMEOUT,
  };
}

/** Every sidecar's special clusters: Passthrough, BlackHole, InboundPassthrough. */
export const SIDECAR_SPECIAL_CLUSTERS: readonly XdsMessage[] = [
  originalDestination(PASSTHROUGH_CLUSTER),
  { name: BLACKHOLE_CLUSTER, type: Enum.STATIC, connect_timeout: CONNECT_TIMEOUT },
  originalDestination(INBOUND_PASSTHROUGH_CLUSTER),
];

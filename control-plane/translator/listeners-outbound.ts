// The sidecar's outbound listener "virtualOutbound" (0.0.0.0:15001): what an app's
// redirected connection is matched by (its original destination ClusterIP:port) and where
// it goes — HTTP-like Service ports into the HTTP connection manager with the port's RDS
// route configuration, TCP ports straight to the port's cluster, anything else to
// PassthroughCluster (ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY). The listener is the
// same for every sidecar (routes differ per namespace, not listeners), so it is built once.
//
// Headless Services (clusterIP None): clients dial pod IPs directly, which Envoy cannot
// load-balance meaningfully, so their traffic passes through in plaintext (as to a pod
// outside the mesh). With REGISTRY_ONLY, each endpoint IP:port gets a chain to
// PassthroughCluster so that registered headless endpoints stay reachable.

import type { XdsMessage } from "../../api/xds-proto.js";
import { SIDECAR } from "../../cni-redirect/redirect-config.js";
import type { TranslateOptions, TranslateWarning } from "./model.js";
import { BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER, VIRTUAL_OUTBOUND_LISTENER } from "./names.js";
import {
  ADS_CONFIG_SOURCE,
  any,
  cidrRange,
  Enum,
  ExtensionName,
  socketAddress,
  Type,
  wrap,
} from "./proto.js";

export const ROUTER_FILTER: XdsMessage = {
  name: ExtensionName.router,
  typed_config: any(Type.Router),
};

export const ORIGINAL_DST_LISTENER_FILTER: XdsMessage = {
  name: ExtensionName.originalDst,
  typed_config: any(Type.OriginalDst),
};

/** A tcp_proxy to `cluster`; `hashPolicy` (envoy.type.v3.HashPolicy) keys its ring hash. */
export function tcpProxyFilter(
  statPrefix: string,
  cluster: string,
  hashPolicy?: readonly XdsMessage[],
): XdsMessage {
  return {
    name: ExtensionName.tcpProxy,
    typed_config: any(Type.TcpProxy, {
      stat_prefix: statPrefix,
      cluster,
      ...(hashPolicy ? { hash_policy: hashPolicy } : {}),
    }),
  };
}

/**
 * The HttpConnectionManager of an HTTP-like Service port, fetching its routes over RDS. The
 * same object is the sidecar's filter config and the proxyless API listener's.
 */
export function rdsConnectionManager(statPrefix: string, routeConfigName: string): XdsMessage {
  return any(Type.HttpConnectionManager, {
    stat_prefix: statPrefix,
    codec_type: Enum.CODEC_AUTO,
    rds: { route_config_name: routeConfigName, config_source: ADS_CONFIG_SOURCE },
    http_filters: [ROUTER_FILTER],
  });
}

/** One outbound chain: destination addresses (ClusterIPs or endpoint IPs) and a port. */
export interface OutboundChain {
  readonly name: string;
  /** The Service it comes from, "Service/<ns>/<name>", for warnings. */
  readonly resource: string;
  readonly addresses: readonly string[];
  readonly port: number;
  /** A typed HttpConnectionManager (HTTP-like ports) … */
  readonly connectionManager?: XdsMessage;
  /** … or the cluster of a TCP proxy, and what its ring hash hashes. */
  readonly tcpCluster?: string;
  readonly tcpHashPolicy?: readonly XdsMessage[];
}

export function outboundListener(
  chains: readonly OutboundChain[],
  options: Pick<TranslateOptions, "outboundTrafficPolicy">,
  warn: (w: TranslateWarning) => void,
): XdsMessage {
  const taken = new Map<string, string>();
  const filterChains: XdsMessage[] = [];
  for (const chain of chains) {
    // Two chains with one address:port would make Envoy (and gRPC) refuse the listener.
    const addresses = chain.addresses.filter((a) => {
      const key = `${a}:${chain.port}`;
      const owner = taken.get(key);
      if (owner === undefined) {
        taken.set(key, chain.name);
        return true;
      }
      warn({
        code: "DUPLICATE_LISTENER_MATCH",
        resource: chain.resource,
        message: `${key} is already matched by ${owner}: left out of ${chain.name}`,
      });
      return false;
    });
    if (addresses.length === 0) continue;
    filterChains.push({
      name: chain.name,
      filter_chain_match: {
        prefix_ranges: addresses.map(cidrRange),
        destination_port: wrap(chain.port),
      },
      filters: [
        chain.connectionManager
          ? { name: ExtensionName.httpConnectionManager, typed_config: chain.connectionManager }
          : tcpProxyFilter(
              chain.name,
              chain.tcpCluster ?? PASSTHROUGH_CLUSTER,
              chain.tcpHashPolicy,
            ),
      ],
    });
  }
  const fallback =
    options.outboundTrafficPolicy === "REGISTRY_ONLY" ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER;
  return {
    name: VIRTUAL_OUTBOUND_LISTENER,
    address: socketAddress("0.0.0.0", SIDECAR.outboundPort),
    use_original_dst: wrap(true),
    traffic_direction: Enum.OUTBOUND,
    listener_filters: [ORIGINAL_DST_LISTENER_FILTER],
    filter_chains: filterChains,
    default_filter_chain: { name: fallback, filters: [tcpProxyFilter(fallback, fallback)] },
  };
}

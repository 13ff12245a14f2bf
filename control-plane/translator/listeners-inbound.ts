// The sidecar's inbound listener "virtualInbound" (0.0.0.0:15006): per port of its pod,
// the mTLS mode decides the chains (STRICT: TLS only; PERMISSIVE: TLS and plaintext, told
// apart by tls_inspector; DISABLE: plaintext only), AuthorizationPolicy becomes RBAC
// filters (DENY before ALLOW), and traffic goes to the app through "inbound|<port>||".
// Ports no chain knows pass through to InboundPassthroughCluster unless the workload is
// STRICT, where they are closed.

import type { XdsMessage } from "../../api/xds-proto.js";
import { SIDECAR } from "../../cni-redirect/redirect-config.js";
import { httpRbacFilter, networkRbacFilter, rbacRules, type SelectedPolicies } from "./authz.js";
import {
  ORIGINAL_DST_LISTENER_FILTER,
  ROUTER_FILTER,
  tcpProxyFilter,
} from "./listeners-outbound.js";
import {
  BLACKHOLE_CLUSTER,
  INBOUND_PASSTHROUGH_CLUSTER,
  inboundClusterName,
  VIRTUAL_INBOUND_LISTENER,
} from "./names.js";
import type { EffectiveMode } from "./peer-authn.js";
import { any, duration, Enum, ExtensionName, socketAddress, Type, wrap } from "./proto.js";
import { isHttpLike, type PortProtocol } from "./protocol.js";
import { DOWNSTREAM_MTLS_SOCKET } from "./tls.js";

export interface InboundPort {
  readonly port: number;
  readonly protocol: PortProtocol;
  readonly mode: EffectiveMode;
}

export interface InboundWorkload {
  /** Sorted by port; empty when the proxy's pod is unknown. */
  readonly ports: readonly InboundPort[];
  /** The workload-level mode: decides what happens to ports without a chain. */
  readonly mode: EffectiveMode;
  readonly policies: SelectedPolicies;
}

const TLS_INSPECTOR: XdsMessage = {
  name: ExtensionName.tlsInspector,
  typed_config: any(Type.TlsInspector),
};

function rbacFilters(
  policies: SelectedPolicies,
  forTcp: boolean,
  make: (rules: XdsMessage) => XdsMessage,
): XdsMessage[] {
  const out: XdsMessage[] = [];
  if (policies.deny.length > 0) out.push(make(rbacRules(policies.deny, "DENY", forTcp)));
  if (policies.allow.length > 0) out.push(make(rbacRules(policies.allow, "ALLOW", forTcp)));
  return out;
}

function portFilters(
  port: InboundPort,
  httpRbac: XdsMessage[],
  tcpRbac: XdsMessage[],
): XdsMessage[] {
  const cluster = inboundClusterName(port.port);
  if (!isHttpLike(port.protocol)) {
    return [...tcpRbac, tcpProxyFilter(cluster, cluster)];
  }
  const hcm = any(Type.HttpConnectionManager, {
    stat_prefix: cluster,
    codec_type: Enum.CODEC_AUTO,
    route_config: {
      name: cluster,
      virtual_hosts: [
        {
          name: cluster,
          domains: ["*"],
          routes: [
            { name: "default", match: { prefix: "/" }, route: { cluster, timeout: duration(0) } },
          ],
        },
      ],
    },
    http_filters: [...httpRbac, ROUTER_FILTER],
  });
  return [{ name: ExtensionName.httpConnectionManager, typed_config: hcm }];
}

export function inboundListener(workload: InboundWorkload): XdsMessage {
  const httpRbac = rbacFilters(workload.policies, false, httpRbacFilter);
  const tcpRbac = rbacFilters(workload.policies, true, networkRbacFilter);
  const chains: XdsMessage[] = [];
  for (const port of workload.ports) {
    const filters = portFilters(port, httpRbac, tcpRbac);
    const name = inboundClusterName(port.port);
    if (port.mode !== "DISABLE") {
      chains.push({
        name: `${name}tls`,
        filter_chain_match: { destination_port: wrap(port.port), transport_protocol: "tls" },
        transport_socket: DOWNSTREAM_MTLS_SOCKET,
        filters,
      });
    }
    if (port.mode !== "STRICT") {
      chains.push({
        name: `${name}plaintext`,
        filter_chain_match: { destination_port: wrap(port.port), transport_protocol: "raw_buffer" },
        filters,
      });
    }
  }
  // STRICT closes unknown ports: no default chain (BlackHole when there is nothing else,
  // since a listener without any chain is refused).
  const fallback =
    workload.mode !== "STRICT"
      ? INBOUND_PASSTHROUGH_CLUSTER
      : chains.length === 0
        ? BLACKHOLE_CLUSTER
        : undefined;
  return {
    name: VIRTUAL_INBOUND_LISTENER,
    address: socketAddress("0.0.0.0", SIDECAR.inboundPort),
    traffic_direction: Enum.INBOUND,
    listener_filters: [ORIGINAL_DST_LISTENER_FILTER, TLS_INSPECTOR],
    filter_chains: chains,
    ...(fallback
      ? { default_filter_chain: { name: fallback, filters: [tcpProxyFilter(fallback, fallback)] } }
      : {}),
  };
}

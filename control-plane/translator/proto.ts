// Small builders for the plain-object Envoy messages the translator emits, in the form
// api/xds-proto.ts's packAny verifies: enums as numbers (protobufjs' verify refuses their
// names), google.protobuf wrappers as {value}, Durations as {seconds, nanos}, Structs as
// {fields: {k: {stringValue}}} (protobufjs' built-in well-known types are camelCase), and
// nested Anys as {"@type": url, ...fields}. A test checks every enum number here against
// the loaded protos.

import { TYPE_URL_PREFIX, type XdsMessage } from "../../api/xds-proto.js";

/** Envoy enum values used by the translator (checked against the protos by a test). */
export const Enum = {
  /** envoy.config.cluster.v3.Cluster.DiscoveryType */
  STATIC: 0,
  EDS: 3,
  ORIGINAL_DST: 4,
  /** envoy.config.cluster.v3.Cluster.LbPolicy */
  ROUND_ROBIN: 0,
  LEAST_REQUEST: 1,
  RING_HASH: 2,
  RANDOM: 3,
  CLUSTER_PROVIDED: 6,
  /** envoy.config.core.v3.RoutingPriority */
  DEFAULT_PRIORITY: 0,
  /** envoy.config.core.v3.ApiVersion */
  V3: 2,
  /** envoy.config.core.v3.ApiConfigSource.ApiType */
  GRPC: 2,
  /** envoy.config.core.v3.HealthStatus */
  HEALTHY: 1,
  DRAINING: 3,
  /** envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.SanType */
  SAN_URI: 3,
  /** envoy.config.rbac.v3.RBAC.Action */
  RBAC_ALLOW: 0,
  RBAC_DENY: 1,
  /** envoy.config.route.v3.RouteAction.ClusterNotFoundResponseCode */
  INTERNAL_SERVER_ERROR: 2,
  /** envoy.config.core.v3.TrafficDirection */
  INBOUND: 1,
  OUTBOUND: 2,
  /** HttpConnectionManager.CodecType */
  CODEC_AUTO: 0,
} as const;

/** Full names of the messages carried inside Anys. */
export const Type = {
  HttpConnectionManager:
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  TcpProxy: "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
  Router: "envoy.extensions.filters.http.router.v3.Router",
  HttpRbac: "envoy.extensions.filters.http.rbac.v3.RBAC",
  NetworkRbac: "envoy.extensions.filters.network.rbac.v3.RBAC",
  OriginalDst: "envoy.extensions.filters.listener.original_dst.v3.OriginalDst",
  TlsInspector: "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
  UpstreamTlsContext: "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  DownstreamTlsContext: "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
  RawBuffer: "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
  HttpProtocolOptions: "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
} as const;

/** Envoy's well-known extension names (filter and transport socket `name` fields). */
export const ExtensionName = {
  httpConnectionManager: "envoy.filters.network.http_connection_manager",
  tcpProxy: "envoy.filters.network.tcp_proxy",
  router: "envoy.filters.http.router",
  httpRbac: "envoy.filters.http.rbac",
  networkRbac: "envoy.filters.network.rbac",
  originalDst: "envoy.filters.listener.original_dst",
  tlsInspector: "envoy.filters.listener.tls_inspector",
  tls: "envoy.transport_sockets.tls",
  rawBuffer: "envoy.transport_sockets.raw_buffer",
} as const;

/** An Any holding `fields` of message `fullName`. */
export function any(fullName: string, fields: XdsMessage = {}): XdsMessage {
  return { "@type": `${TYPE_URL_PREFIX}${fullName}`, ...fields };
}

/** The full name inside an `{"@type": …}` object, if it is one. */
export function anyType(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const url = (value as XdsMessage)["@type"];
  return typeof url === "string" && url.startsWith(TYPE_URL_PREFIX)
    ? url.slice(TYPE_URL_PREFIX.length)
    : undefined;
}

/** google.protobuf.Duration from milliseconds. */
export function duration(ms: number): { seconds: number; nanos?: number } {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos === 0 ? { seconds } : { seconds, nanos };
}

/** google.protobuf.UInt32Value / BoolValue. */
export const wrap = <T extends number | boolean>(value: T): { value: T } => ({ value });

/** google.protobuf.Struct of string values. */
export function stringStruct(values: Readonly<Record<string, string>>): XdsMessage {
  const fields: Record<string, { stringValue: string }> = {};
  for (const [k, v] of Object.entries(values)) fields[k] = { stringValue: v };
  return { fields };
}

/** The ConfigSource "over the same ADS stream". */
export const ADS_CONFIG_SOURCE: XdsMessage = Object.freeze({
  ads: {},
  resource_api_version: Enum.V3,
}) as XdsMessage;

export function socketAddress(address: string, port: number): XdsMessage {
  return { socket_address: { address, port_value: port } };
}

export function cidrRange(address: string): XdsMessage {
  const [ip = "", len] = address.split("/");
  const full = ip.includes(":") ? 128 : 32;
  return { address_prefix: ip, prefix_len: wrap(len === undefined ? full : Number(len)) };
}

/** Regex metacharacters escaped, for RE2 (Envoy safe_regex) as for JavaScript. */
export function quoteRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

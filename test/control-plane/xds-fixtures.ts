// Hand-made xDS resources and snapshots for the xDS server's tests, as plain objects,
// and a way to drive a stream state machine without sockets.

import { TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import type { SnapshotSource } from "../../control-plane/xds/cache.js";
import { type Callbacks, silentLogger } from "../../control-plane/xds/callbacks.js";
import { DeltaStream } from "../../control-plane/xds/delta.js";
import type { XdsError } from "../../control-plane/xds/errors.js";
import { SotwStream } from "../../control-plane/xds/sotw.js";
import { StreamRegistry } from "../../control-plane/xds/stream-state.js";
import type { ResourceMap, Snapshot } from "../../control-plane/xds/types.js";

export const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

export const cluster = (name: string, timeoutSeconds = 1): XdsMessage => ({
  name,
  type: "EDS",
  connect_timeout: { seconds: timeoutSeconds },
  eds_cluster_config: { eds_config: { ads: {} }, service_name: name },
});

export const cla = (name: string, ip = "10.0.0.1", port = 8080): XdsMessage => ({
  cluster_name: name,
  endpoints: [
    {
      lb_endpoints: [
        { endpoint: { address: { socket_address: { address: ip, port_value: port } } } },
      ],
    },
  ],
});

/** An API listener (the proxyless gRPC shape) whose HCM takes its routes from RDS. */
export const listener = (name: string, routeName = `${name}-routes`): XdsMessage => ({
  name,
  api_listener: {
    api_listener: {
      "@type": HCM,
      stat_prefix: name,
      rds: { config_source: { ads: {} }, route_config_name: routeName },
    },
  },
});

export const route = (name: string, clusterName = "a"): XdsMessage => ({
  name,
  virtual_hosts: [
    {
      name: "vh",
      domains: ["*"],
      routes: [{ match: { prefix: "/" }, route: { cluster: clusterName } }],
    },
  ],
});

const byName = (list: XdsMessage[] | undefined): ResourceMap =>
  new Map((list ?? []).map((m) => [String(m.name ?? m.cluster_name), m]));

export function snapshot(
  version: string,
  parts: {
    clusters?: XdsMessage[];
    clas?: XdsMessage[];
    listeners?: XdsMessage[];
    routes?: XdsMessage[];
  },
): Snapshot {
  const resources = new Map<TypeUrl, ResourceMap>();
  if (parts.clusters) resources.set(TypeUrl.Cluster, byName(parts.clusters));
  if (parts.clas) resources.set(TypeUrl.ClusterLoadAssignment, byName(parts.clas));
  if (parts.listeners) resources.set(TypeUrl.Listener, byName(parts.listeners));
  if (parts.routes) resources.set(TypeUrl.RouteConfiguration, byName(parts.routes));
  return { version, resources };
}

/** A stream state machine with its responses collected instead of written to a socket. */
export function driveStream(
  kind: "sotw" | "delta",
  source: SnapshotSource,
  callbacks: Callbacks = {},
  registry = new StreamRegistry(),
) {
  const sent: XdsMessage[] = [];
  const failures: XdsError[] = [];
  const options = {
    source,
    registry,
    callbacks,
    log: silentLogger,
    peer: "test",
    transport: { send: (r: XdsMessage) => sent.push(r), fail: (e: XdsError) => failures.push(e) },
  };
  const stream = kind === "sotw" ? new SotwStream(options) : new DeltaStream(options);
  return {
    stream,
    sent,
    failures,
    registry,
    /** The one response sent since the last take (fails if none or several). */
    take(): XdsMessage {
      if (sent.length !== 1) {
        throw new Error(
          `expected exactly one response, got ${sent.length}: ${sent.map((r) => r.type_url).join(", ")}`,
        );
      }
      return sent.shift() as XdsMessage;
    },
    /** Every response sent since the last take, emptied. */
    takeAll(): XdsMessage[] {
      return sent.splice(0);
    },
  };
}

export const NODE = { id: "node-1", cluster: "test" };

// The seam between what to send and how to send it (go-control-plane's split): the
// translator produces a Snapshot per proxy; the xDS servers (SotW and delta) read it from
// the SnapshotCache and know nothing of Services or routes.

import type { TypeUrl, XdsMessage } from "../../api/xds-proto.js";

/** Who is on the other end of an ADS stream, from its DiscoveryRequest.node. */
export interface ProxyNode {
  /** node.id: the cache key. */
  readonly id: string;
  /** A gRPC library's xDS client (proxyless) or a Trellis sidecar. */
  readonly kind: "sidecar" | "proxyless";
  readonly namespace?: string;
  readonly podName?: string;
  readonly serviceAccount?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ips: readonly string[];
  readonly locality?: {
    readonly region?: string;
    readonly zone?: string;
    readonly sub_zone?: string;
  };
  /** node.user_agent_name, as sent. */
  readonly userAgent?: string;
}

/** Resources of one type, by name. Each message is the plain object of that type URL. */
export type ResourceMap = ReadonlyMap<string, XdsMessage>;

/**
 * A complete, consistent set of resources for one proxy. `version` names the whole set;
 * per-type versions (SotW version_info) and per-resource versions (delta) are derived
 * from content by the cache, so an unchanged type is not pushed again.
 */
export interface Snapshot {
  readonly version: string;
  readonly resources: ReadonlyMap<TypeUrl, ResourceMap>;
}

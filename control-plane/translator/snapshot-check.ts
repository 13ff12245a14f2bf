// checkSnapshot: is a Snapshot complete and consistent, as go-control-plane checks before
// it publishes? Every EDS cluster's assignment exists, every RDS name a listener uses
// exists, every cluster a route or tcp_proxy names exists (the special names excepted),
// every secret fetched over ADS exists, and names are what their keys say and unique where
// Envoy requires it. The caller refuses to publish a snapshot with issues: a proxy given a
// dangling reference would wait for it forever (Envoy) or fail the channel (gRPC).

import { TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import type { ResourceMap, Snapshot } from "../xds/types.js";
import { SPECIAL_CLUSTERS } from "./names.js";
import { anyType, Type } from "./proto.js";

export type SnapshotIssueCode =
  | "MISSING_LOAD_ASSIGNMENT"
  | "MISSING_ROUTE_CONFIGURATION"
  | "MISSING_CLUSTER"
  | "MISSING_SECRET"
  | "NAME_MISMATCH"
  | "DUPLICATE_NAME"
  | "DUPLICATE_FILTER_CHAIN_MATCH";

export interface SnapshotIssue {
  readonly code: SnapshotIssueCode;
  /** The resource holding the problem. */
  readonly typeUrl: TypeUrl;
  readonly resource: string;
  readonly message: string;
}

const isObject = (v: unknown): v is XdsMessage => typeof v === "object" && v !== null;

/** Every object nested in `value` (arrays and Any payloads included), depth first. */
function* objects(value: unknown): Generator<XdsMessage> {
  if (Array.isArray(value)) {
    for (const v of value) yield* objects(v);
  } else if (isObject(value)) {
    yield value;
    for (const v of Object.values(value)) yield* objects(v);
  }
}

/** The clusters a RouteAction or TcpProxy names. */
function namedClusters(action: unknown): string[] {
  if (!isObject(action)) return [];
  const out: string[] = [];
  if (typeof action.cluster === "string" && action.cluster !== "") out.push(action.cluster);
  const weighted = action.weighted_clusters;
  if (isObject(weighted) && Array.isArray(weighted.clusters)) {
    for (const c of weighted.clusters)
      if (isObject(c) && typeof c.name === "string") out.push(c.name);
  }
  return out;
}

function routeConfigClusters(rc: unknown): string[] {
  const out: string[] = [];
  if (!isObject(rc) || !Array.isArray(rc.virtual_hosts)) return out;
  for (const vh of rc.virtual_hosts) {
    if (!isObject(vh) || !Array.isArray(vh.routes)) continue;
    for (const r of vh.routes) if (isObject(r)) out.push(...namedClusters(r.route));
  }
  return out;
}

function duplicates(names: readonly unknown[]): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const n of names) {
    const key = typeof n === "string" ? n : JSON.stringify(n ?? null);
    if (seen.has(key)) dup.add(key);
    seen.add(key);
  }
  return [...dup];
}

export function checkSnapshot(snapshot: Snapshot): SnapshotIssue[] {
  const issues: SnapshotIssue[] = [];
  const get = (t: TypeUrl): ResourceMap => snapshot.resources.get(t) ?? new Map();
  const clusters = get(TypeUrl.Cluster);
  const assignments = get(TypeUrl.ClusterLoadAssignment);
  const listeners = get(TypeUrl.Listener);
  const routes = get(TypeUrl.RouteConfiguration);
  const secrets = get(TypeUrl.Secret);
  const add = (code: SnapshotIssueCode, typeUrl: TypeUrl, resource: string, message: string) =>
    issues.push({ code, typeUrl, resource, message });
  const needCluster = (
    typeUrl: TypeUrl,
    resource: string,
    names: readonly string[],
    via: string,
  ) => {
    for (const c of names) {
      if (!clusters.has(c) && !SPECIAL_CLUSTERS.has(c)) {
        add(
          "MISSING_CLUSTER",
          typeUrl,
          resource,
          `${via} names cluster ${c}, which the snapshot lacks`,
        );
      }
    }
  };
  const needSecrets = (typeUrl: TypeUrl, resource: string, message: XdsMessage) => {
    for (const o of objects(message)) {
      const sds = o.sds_config;
      if (
        typeof o.name === "string" &&
        isObject(sds) &&
        sds.ads !== undefined &&
        !secrets.has(o.name)
      ) {
        add(
          "MISSING_SECRET",
          typeUrl,
          resource,
          `secret ${o.name} is fetched over ADS but the snapshot lacks it`,
        );
      }
    }
  };

  for (const [typeUrl, map] of snapshot.resources) {
    const field = typeUrl === TypeUrl.ClusterLoadAssignment ? "cluster_name" : "name";
    for (const [key, msg] of map) {
      if (msg[field] !== key) {
        add(
          "NAME_MISMATCH",
          typeUrl,
          key,
          `${field} is ${JSON.stringify(msg[field])}, not its key ${key}`,
        );
      }
    }
  }

  for (const [name, cluster] of clusters) {
    const eds = cluster.eds_cluster_config;
    if (isObject(eds)) {
      const service =
        typeof eds.service_name === "string" && eds.service_name !== "" ? eds.service_name : name;
      if (!assignments.has(service)) {
        add(
          "MISSING_LOAD_ASSIGNMENT",
          TypeUrl.Cluster,
          name,
          `EDS service_name ${service} has no ClusterLoadAssignment`,
        );
      }
    }
    needSecrets(TypeUrl.Cluster, name, cluster);
  }

  for (const [name, listener] of listeners) {
    const chains = Array.isArray(listener.filter_chains)
      ? listener.filter_chains.filter(isObject)
      : [];
    for (const d of duplicates(chains.map((c) => c.name))) {
      add("DUPLICATE_NAME", TypeUrl.Listener, name, `filter chain name ${d} is used twice`);
    }
    for (const d of duplicates(chains.map((c) => c.filter_chain_match ?? {}))) {
      add("DUPLICATE_FILTER_CHAIN_MATCH", TypeUrl.Listener, name, `two filter chains match ${d}`);
    }
    for (const o of objects(listener)) {
      const type = anyType(o);
      if (type === Type.HttpConnectionManager) {
        const rds = o.rds;
        if (
          isObject(rds) &&
          typeof rds.route_config_name === "string" &&
          !routes.has(rds.route_config_name)
        ) {
          add(
            "MISSING_ROUTE_CONFIGURATION",
            TypeUrl.Listener,
            name,
            `RDS route_config_name ${rds.route_config_name} is not in the snapshot`,
          );
        }
        needCluster(TypeUrl.Listener, name, routeConfigClusters(o.route_config), "an inline route");
      } else if (type === Type.TcpProxy) {
        needCluster(TypeUrl.Listener, name, namedClusters(o), "a tcp_proxy");
      }
    }
    needSecrets(TypeUrl.Listener, name, listener);
  }

  for (const [name, rc] of routes) {
    needCluster(TypeUrl.RouteConfiguration, name, routeConfigClusters(rc), "a route");
    const vhosts = Array.isArray(rc.virtual_hosts) ? rc.virtual_hosts.filter(isObject) : [];
    for (const d of duplicates(vhosts.map((v) => v.name))) {
      add(
        "DUPLICATE_NAME",
        TypeUrl.RouteConfiguration,
        name,
        `virtual host name ${d} is used twice`,
      );
    }
  }
  return issues;
}

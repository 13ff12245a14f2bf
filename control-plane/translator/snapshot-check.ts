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

/**
 * Results by the identity of the snapshot's five maps: proxies of one workload share them
 * (and their messages are never mutated once published), so a push to 1,000 proxies checks
 * each distinct set once.
 */
const checked = new WeakMap<
  object,
  WeakMap<object, WeakMap<object, WeakMap<object, WeakMap<object, SnapshotIssue[]>>>>
>();
const EMPTY_MAP: ResourceMap = new Map();
const CHECKED_TYPES = new Set<string>([
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
  TypeUrl.Secret,
]);

/** checkSnapshot, remembered for a snapshot made of the same maps as one checked before. */
export function checkSnapshot(snapshot: Snapshot): SnapshotIssue[] {
  const m = (t: TypeUrl) => snapshot.resources.get(t) ?? EMPTY_MAP;
  const keys = [
    m(TypeUrl.Cluster),
    m(TypeUrl.ClusterLoadAssignment),
    m(TypeUrl.Listener),
    m(TypeUrl.RouteConfiguration),
  ] as const;
  let level: WeakMap<object, unknown> = checked;
  for (const key of keys) {
    let next = level.get(key) as WeakMap<object, unknown> | undefined;
    if (!next) {
      next = new WeakMap();
      level.set(key, next);
    }
    level = next;
  }
  const secrets = m(TypeUrl.Secret);
  // Only the five types are part of the key: a snapshot with any other is checked afresh.
  if (![...snapshot.resources.keys()].every((t) => CHECKED_TYPES.has(t))) {
    return checkUncached(snapshot);
  }
  const hit = level.get(secrets) as SnapshotIssue[] | undefined;
  if (hit) return [...hit];
  const issues = checkUncached(snapshot);
  level.set(secrets, issues);
  return [...issues];
}

/** What a message refers to and what is wrong inside it, worked out once per message object. */
interface Facts {
  /** EDS: the assignment it needs. */
  readonly edsService?: string;
  /** RDS names (listeners). */
  readonly routeConfigs: readonly string[];
  /** Clusters named, with how (routes, tcp_proxy). */
  readonly clusters: readonly (readonly [cluster: string, via: string])[];
  /** Secrets fetched over ADS. */
  readonly secrets: readonly string[];
  /** Problems wholly inside the message (duplicate names, duplicate matches). */
  readonly own: readonly (readonly [SnapshotIssueCode, string])[];
}

const factsOf = new WeakMap<XdsMessage, Facts>();

function adsSecrets(message: XdsMessage): string[] {
  const out: string[] = [];
  for (const o of objects(message)) {
    const sds = o.sds_config;
    if (typeof o.name === "string" && isObject(sds) && sds.ads !== undefined) out.push(o.name);
  }
  return out;
}

function clusterFacts(name: string, cluster: XdsMessage): Facts {
  const eds = cluster.eds_cluster_config;
  const edsService = isObject(eds)
    ? typeof eds.service_name === "string" && eds.service_name !== ""
      ? eds.service_name
      : name
    : undefined;
  return {
    ...(edsService !== undefined && { edsService }),
    routeConfigs: [],
    clusters: [],
    secrets: adsSecrets(cluster),
    own: [],
  };
}

function listenerFacts(listener: XdsMessage): Facts {
  const chains = Array.isArray(listener.filter_chains)
    ? listener.filter_chains.filter(isObject)
    : [];
  const own: [SnapshotIssueCode, string][] = [];
  for (const d of duplicates(chains.map((c) => c.name))) {
    own.push(["DUPLICATE_NAME", `filter chain name ${d} is used twice`]);
  }
  for (const d of duplicates(chains.map((c) => c.filter_chain_match ?? {}))) {
    own.push(["DUPLICATE_FILTER_CHAIN_MATCH", `two filter chains match ${d}`]);
  }
  const routeConfigs: string[] = [];
  const clusters: [string, string][] = [];
  for (const o of objects(listener)) {
    const type = anyType(o);
    if (type === Type.HttpConnectionManager) {
      const rds = o.rds;
      if (isObject(rds) && typeof rds.route_config_name === "string") {
        routeConfigs.push(rds.route_config_name);
      }
      for (const c of routeConfigClusters(o.route_config)) clusters.push([c, "an inline route"]);
    } else if (type === Type.TcpProxy) {
      for (const c of namedClusters(o)) clusters.push([c, "a tcp_proxy"]);
    }
  }
  return { routeConfigs, clusters, secrets: adsSecrets(listener), own };
}

function routeFacts(rc: XdsMessage): Facts {
  const vhosts = Array.isArray(rc.virtual_hosts) ? rc.virtual_hosts.filter(isObject) : [];
  return {
    routeConfigs: [],
    clusters: routeConfigClusters(rc).map((c) => [c, "a route"] as const),
    secrets: [],
    own: duplicates(vhosts.map((v) => v.name)).map(
      (d) => ["DUPLICATE_NAME", `virtual host name ${d} is used twice`] as const,
    ),
  };
}

function facts(typeUrl: TypeUrl, name: string, message: XdsMessage): Facts {
  let f = factsOf.get(message);
  if (!f) {
    f =
      typeUrl === TypeUrl.Cluster
        ? clusterFacts(name, message)
        : typeUrl === TypeUrl.Listener
          ? listenerFacts(message)
          : routeFacts(message);
    factsOf.set(message, f);
  }
  return f;
}

function checkUncached(snapshot: Snapshot): SnapshotIssue[] {
  const issues: SnapshotIssue[] = [];
  const get = (t: TypeUrl): ResourceMap => snapshot.resources.get(t) ?? EMPTY_MAP;
  const clusters = get(TypeUrl.Cluster);
  const assignments = get(TypeUrl.ClusterLoadAssignment);
  const routes = get(TypeUrl.RouteConfiguration);
  const secrets = get(TypeUrl.Secret);
  const add = (code: SnapshotIssueCode, typeUrl: TypeUrl, resource: string, message: string) =>
    issues.push({ code, typeUrl, resource, message });

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
  for (const typeUrl of [TypeUrl.Cluster, TypeUrl.Listener, TypeUrl.RouteConfiguration]) {
    for (const [name, message] of get(typeUrl)) {
      const f = facts(typeUrl, name, message);
      for (const [code, why] of f.own) add(code, typeUrl, name, why);
      if (f.edsService !== undefined && !assignments.has(f.edsService)) {
        add(
          "MISSING_LOAD_ASSIGNMENT",
          typeUrl,
          name,
          `EDS service_name ${f.edsService} has no ClusterLoadAssignment`,
        );
      }
      for (const rc of f.routeConfigs) {
        if (!routes.has(rc)) {
          add(
            "MISSING_ROUTE_CONFIGURATION",
            typeUrl,
            name,
            `RDS route_config_name ${rc} is not in the snapshot`,
          );
        }
      }
      for (const [c, via] of f.clusters) {
        if (!clusters.has(c) && !SPECIAL_CLUSTERS.has(c)) {
          add(
            "MISSING_CLUSTER",
            typeUrl,
            name,
            `${via} names cluster ${c}, which the snapshot lacks`,
          );
        }
      }
      for (const secret of f.secrets) {
        if (!secrets.has(secret)) {
          add(
            "MISSING_SECRET",
            typeUrl,
            name,
            `secret ${secret} is fetched over ADS but the snapshot lacks it`,
          );
        }
      }
    }
  }
  return issues;
}

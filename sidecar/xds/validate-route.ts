// RouteConfiguration validation, for RDS resources and for the route_config inlined in an
// HTTP connection manager: virtual hosts, each route's match and action, weighted clusters,
// hash policies and retry policies. Collects the clusters the routes name.

import { at, isRec, type Rec, show } from "../../api/validate-common.js";
import { checkDuration, exactlyOne, nonEmpty, uint32, type XdsCheck } from "./validate-shared.js";

/**
 * A bound against retry storms: each retry multiplies the load on an upstream that is
 * already failing, and with several hops in a chain the multipliers compound.
 */
export const MAX_RETRIES = 10;

/** The weights of a weighted_clusters must fit Envoy's uint32 total. */
const MAX_TOTAL_WEIGHT = 0xffffffff;

/**
 * The RegExp the sidecar matches a `safe_regex` with. RE2 syntax is mostly JS syntax; Envoy
 * matches the whole value, hence the anchors (added after the bare pattern compiles, so
 * that they cannot rescue one that does not). Throws a SyntaxError.
 */
export function compileSafeRegex(regex: string): RegExp {
  new RegExp(regex);
  return new RegExp(`^(?:${regex})$`);
}

/** `path` is "" for an RDS resource, "…route_config" for an inline one. */
export function checkRouteConfiguration(c: XdsCheck, rc: Rec, path: string): void {
  const domainOwners = new Map<string, string>();
  for (const [vhost, vp] of c.maps(rc.virtual_hosts, at(path, "virtual_hosts"))) {
    nonEmpty(c, vhost.name, at(vp, "name"));
    if (!Array.isArray(vhost.domains) || vhost.domains.length === 0) {
      c.add(at(vp, "domains"), "must list at least one domain");
    }
    for (const [domain, dp] of c.strs(vhost.domains, at(vp, "domains"), { nonEmpty: true })) {
      // Envoy matches hosts case-insensitively, so "A.com" and "a.com" are one domain.
      const owner = domainOwners.get(domain.toLowerCase());
      if (owner !== undefined && owner !== vp) {
        c.add(dp, `${show(domain)} is also a domain of ${owner}: a request could match either`);
      }
      domainOwners.set(domain.toLowerCase(), vp);
    }
    for (const [route, rp] of c.maps(vhost.routes, at(vp, "routes"))) checkRoute(c, route, rp);
  }
}

const PATH_SPECIFIERS = ["prefix", "path", "safe_regex", "path_separated_prefix"] as const;
const ACTIONS = ["route", "redirect", "direct_response"] as const;

function checkRoute(c: XdsCheck, route: Rec, path: string): void {
  const matchPath = at(path, "match");
  const match = c.map(route.match, matchPath, { required: true });
  if (match) {
    const which = exactlyOne(c, match, PATH_SPECIFIERS, matchPath, [
      "connect_matcher",
      "path_match_policy",
    ]);
    if (which === "safe_regex") checkRegex(c, match.safe_regex, at(matchPath, "safe_regex"));
    for (const [header, hp] of c.maps(match.headers, at(matchPath, "headers"))) {
      const stringMatch = isRec(header.string_match) ? header.string_match : {};
      if (stringMatch.safe_regex !== undefined) {
        checkRegex(c, stringMatch.safe_regex, at(at(hp, "string_match"), "safe_regex"));
      }
    }
  }
  const action = exactlyOne(c, route, ACTIONS, path, ["filter_action", "non_forwarding_action"]);
  if (action === "route") checkRouteAction(c, route.route as Rec, at(path, "route"));
  if (action === "direct_response") {
    const status = Number((route.direct_response as Rec).status ?? 0);
    if (status < 200 || status > 599) {
      c.add(at(at(path, "direct_response"), "status"), `must be from 200 to 599, got ${status}`);
    }
  }
}

function checkRegex(c: XdsCheck, v: unknown, path: string): void {
  const matcher = isRec(v) ? v : {};
  const regex = nonEmpty(c, matcher.regex, at(path, "regex"));
  if (regex === undefined) return;
  try {
    compileSafeRegex(regex);
  } catch (err) {
    c.add(at(path, "regex"), `does not compile: ${err instanceof Error ? err.message : err}`);
  }
}

function checkRouteAction(c: XdsCheck, action: Rec, path: string): void {
  const which = exactlyOne(c, action, ["cluster", "weighted_clusters", "cluster_header"], path, [
    "cluster_specifier_plugin",
    "inline_cluster_specifier_plugin",
  ]);
  if (which === "cluster") {
    const cluster = nonEmpty(c, action.cluster, at(path, "cluster"));
    if (cluster !== undefined) c.clusters.add(cluster);
  }
  if (which === "cluster_header") nonEmpty(c, action.cluster_header, at(path, "cluster_header"));
  if (which === "weighted_clusters") {
    checkWeightedClusters(c, action.weighted_clusters as Rec, at(path, "weighted_clusters"));
  }
  checkDuration(c, action.timeout, at(path, "timeout"), "non-negative");
  checkDuration(c, action.idle_timeout, at(path, "idle_timeout"), "non-negative");
  checkHashPolicies(c, action.hash_policy, at(path, "hash_policy"));

  const retryPath = at(path, "retry_policy");
  const retry = c.map(action.retry_policy, retryPath);
  if (!retry) return;
  const retries = uint32(retry.num_retries);
  if (retries !== undefined && retries > MAX_RETRIES) {
    c.add(
      at(retryPath, "num_retries"),
      `must be at most ${MAX_RETRIES}, got ${retries}: a bound against retry storms, where each retry adds load to an upstream that is already failing`,
    );
  }
  checkDuration(c, retry.per_try_timeout, at(retryPath, "per_try_timeout"), "non-negative");
  checkDuration(
    c,
    retry.per_try_idle_timeout,
    at(retryPath, "per_try_idle_timeout"),
    "non-negative",
  );
}

/**
 * The hash policies the sidecar evaluates: a header's value, the source IP. Ignoring any
 * other would quietly turn a sticky route into a random one, so they are refused.
 */
function checkHashPolicies(c: XdsCheck, v: unknown, path: string): void {
  for (const [policy, pp] of c.maps(v, path)) {
    const which = exactlyOne(c, policy, ["header", "connection_properties"], pp, [
      "cookie",
      "query_parameter",
      "filter_state",
    ]);
    if (which !== "header") continue;
    const header = policy.header as Rec;
    nonEmpty(c, header.header_name, at(at(pp, "header"), "header_name"));
    if (header.regex_rewrite !== undefined) {
      c.add(
        at(at(pp, "header"), "regex_rewrite"),
        "is not supported by the sidecar: it hashes the header's value as it comes",
      );
    }
  }
}

// Weights are UInt32Values: the wire cannot carry a negative one, so only an all-zero set
// (nothing could ever be picked) and an overflowing total are left to refuse.
function checkWeightedClusters(c: XdsCheck, weighted: Rec, path: string): void {
  const clustersPath = at(path, "clusters");
  const clusters = c.maps(weighted.clusters, clustersPath);
  if (clusters.length === 0) {
    c.add(clustersPath, "must list at least one cluster");
    return;
  }
  let total = 0;
  for (const [cluster, cp] of clusters) {
    total += uint32(cluster.weight) ?? 0;
    if (typeof cluster.cluster_header === "string" && cluster.cluster_header !== "") continue;
    const name = nonEmpty(c, cluster.name, at(cp, "name"));
    if (name !== undefined) c.clusters.add(name);
  }
  if (total === 0) c.add(clustersPath, "weights must not all be zero: no cluster could be picked");
  if (total > MAX_TOTAL_WEIGHT) {
    c.add(clustersPath, `weights must sum to at most ${MAX_TOTAL_WEIGHT}, sum to ${total}`);
  }
}

// RouteConfigurations: one per HTTP-like Service port, named "<host>:<port>", with one
// virtual host "*" (the configuration is already per Service port). With no HTTPRoute or
// GRPCRoute attached it sends everything to the port's own cluster; with routes attached
// it holds their rules in Gateway API precedence, and unmatched requests get Envoy's 404.
// The same objects serve sidecars and proxyless gRPC clients, so everything here is
// something grpc-js validates and understands (timeouts also as max_stream_duration).
// A route's hash_policy is that of the Service it sends to (trellis.dev/hash-on), since
// a hash policy keys the ring hash of whichever cluster the route picks.

import type {
  BackendRef,
  GRPCRoute,
  GRPCRouteRule,
  HTTPRoute,
  HTTPRouteRule,
} from "../../api/types.js";
import { GRPC_STATUS_CODES, parseGatewayDuration } from "../../api/validate-gateway.js";
import type { XdsMessage } from "../../api/xds-proto.js";
import { compareStrings, namespaceOf, objectKey } from "./model.js";
import { INVALID_BACKEND_CLUSTER } from "./names.js";
import { duration, Enum, wrap } from "./proto.js";
import {
  type ConvertedMatch,
  compareMatchRank,
  convertGrpcMatch,
  convertHttpMatch,
  type MatchRank,
} from "./route-match.js";

export type AttachedRoute =
  | { readonly kind: "HTTPRoute"; readonly route: HTTPRoute }
  | { readonly kind: "GRPCRoute"; readonly route: GRPCRoute };

/** The cluster of a backendRef, or undefined when it does not resolve (no such Service/port). */
export type BackendResolver = (ref: BackendRef, routeNamespace: string) => string | undefined;

/** Called once per backendRef that does not resolve. */
export type InvalidBackendReporter = (route: AttachedRoute, ref: BackendRef) => void;

/** The RouteAction.hash_policy of routes to a cluster, if its Service asks for one. */
export type HashPolicyOf = (cluster: string) => readonly XdsMessage[] | undefined;

const NO_HASH_POLICY: HashPolicyOf = () => undefined;

const NO_TIMEOUT = duration(0);

/** The route every HTTP-like Service port has when no route attaches to it. */
export function defaultRoute(cluster: string, hashPolicy?: readonly XdsMessage[]): XdsMessage {
  return {
    name: "default",
    match: { prefix: "/" },
    route: { cluster, timeout: NO_TIMEOUT, ...(hashPolicy ? { hash_policy: hashPolicy } : {}) },
  };
}

export function routeConfiguration(name: string, routes: readonly XdsMessage[]): XdsMessage {
  return {
    name,
    virtual_hosts: [{ name, domains: ["*"], routes }],
    // Routes may name InvalidBackendCluster, which never exists (see names.ts).
    validate_clusters: wrap(false),
  };
}

/** The Envoy routes of every rule of `attached`, in Gateway API precedence. */
export function attachedRoutes(
  attached: readonly AttachedRoute[],
  resolve: BackendResolver,
  reportInvalid: InvalidBackendReporter,
  hashPolicyOf: HashPolicyOf = NO_HASH_POLICY,
): XdsMessage[] {
  const entries: { rank: MatchRank; match: XdsMessage; name: string; action: XdsMessage }[] = [];
  for (const a of attached) {
    const meta = a.route.metadata;
    const key = objectKey(a.route);
    const rules: readonly (HTTPRouteRule | GRPCRouteRule)[] = a.route.spec.rules ?? [];
    rules.forEach((rule, ruleIndex) => {
      const action = routeAction(a, rule, resolve, reportInvalid, hashPolicyOf);
      const converted: ConvertedMatch[] =
        a.kind === "HTTPRoute"
          ? ((rule as HTTPRouteRule).matches ?? [{}]).map(convertHttpMatch)
          : ((rule as GRPCRouteRule).matches ?? [{}]).map(convertGrpcMatch);
      if (converted.length === 0)
        converted.push(a.kind === "HTTPRoute" ? convertHttpMatch({}) : convertGrpcMatch({}));
      converted.forEach((c, matchIndex) => {
        const rank: MatchRank = {
          ...c,
          created: meta.creationTimestamp ?? "",
          route: key,
          ruleIndex,
          matchIndex,
        };
        const name = `${namespaceOf(a.route)}.${meta.name}.${rule.name ?? ruleIndex}.${matchIndex}`;
        for (const match of c.envoy) entries.push({ rank, match, name, action });
      });
    });
  }
  // Array.prototype.sort is stable: the two halves of an expanded PathPrefix stay in order.
  entries.sort((x, y) => compareMatchRank(x.rank, y.rank));
  return entries.map((e) => ({ name: e.name, match: e.match, route: e.action }));
}

function parseDurationMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseGatewayDuration(text);
  } catch {
    return undefined; // validation refuses it first; a hand-built model's bad value is ignored
  }
}

/**
 * One rule's RouteAction: the cluster, or weighted clusters (weight 0 dropped, duplicates
 * merged); backendRefs that do not resolve keep their share on InvalidBackendCluster with
 * cluster_not_found_response_code 500, and so does a rule without positive weights. The
 * hash policy is the first of its clusters' that has one (a route carries one hash policy,
 * whichever cluster it picks; clusters that are not ring hash ignore it).
 */
export function routeAction(
  attached: AttachedRoute,
  rule: HTTPRouteRule | GRPCRouteRule,
  resolve: BackendResolver,
  reportInvalid: InvalidBackendReporter,
  hashPolicyOf: HashPolicyOf = NO_HASH_POLICY,
): XdsMessage {
  const routeNs = namespaceOf(attached.route);
  const weights = new Map<string, number>();
  for (const ref of rule.backendRefs ?? []) {
    const weight = ref.weight ?? 1;
    if (weight <= 0) continue;
    let cluster = resolve(ref, routeNs);
    if (cluster === undefined) {
      reportInvalid(attached, ref);
      cluster = INVALID_BACKEND_CLUSTER;
    }
    weights.set(cluster, (weights.get(cluster) ?? 0) + weight);
  }
  const action: XdsMessage = {};
  if (weights.size === 0) weights.set(INVALID_BACKEND_CLUSTER, 1);
  if (weights.size === 1) action.cluster = [...weights.keys()][0];
  else {
    action.weighted_clusters = {
      clusters: [...weights.entries()].map(([name, weight]) => ({ name, weight: wrap(weight) })),
    };
  }
  if (weights.has(INVALID_BACKEND_CLUSTER)) {
    action.cluster_not_found_response_code = Enum.INTERNAL_SERVER_ERROR;
  }
  const hashPolicy = [...weights.keys()].map(hashPolicyOf).find((h) => h !== undefined);
  if (hashPolicy) action.hash_policy = hashPolicy;

  const retry =
    attached.kind === "HTTPRoute"
      ? httpRetryPolicy(rule as HTTPRouteRule)
      : grpcRetryPolicy(rule as GRPCRouteRule);
  const request = parseDurationMs(rule.timeouts?.request) || undefined;
  const backend = parseDurationMs(rule.timeouts?.backendRequest) || undefined;
  // Without retries one backend request is the whole request: the shorter timeout wins.
  const timeout = retry || backend === undefined ? request : Math.min(request ?? backend, backend);
  action.timeout = duration(timeout ?? 0);
  // gRPC clients read their deadline from max_stream_duration, not from timeout.
  if (timeout !== undefined)
    action.max_stream_duration = { max_stream_duration: duration(timeout) };
  if (retry) {
    if (backend !== undefined) retry.per_try_timeout = duration(backend);
    action.retry_policy = retry;
  }
  return action;
}

function backOff(backoff: string | undefined): XdsMessage {
  const base = parseDurationMs(backoff);
  if (!base) return {};
  return { retry_back_off: { base_interval: duration(base), max_interval: duration(base * 10) } };
}

/** HTTPRoute retry: status codes (default 500, 502, 503, 504) plus connection failures. */
function httpRetryPolicy(rule: HTTPRouteRule): XdsMessage | undefined {
  const retry = rule.retry;
  if (!retry || retry.attempts === 0) return undefined;
  return {
    retry_on: "retriable-status-codes,connect-failure,refused-stream,reset",
    num_retries: wrap(retry.attempts ?? 1),
    retriable_status_codes: retry.codes?.length ? [...retry.codes] : [500, 502, 503, 504],
    ...backOff(retry.backoff),
  };
}

/** The gRPC statuses Envoy's (and gRPC's) retry_on can name. */
const GRPC_RETRY_ON: Readonly<Record<string, string>> = {
  CANCELLED: "cancelled",
  DEADLINE_EXCEEDED: "deadline-exceeded",
  INTERNAL: "internal",
  RESOURCE_EXHAUSTED: "resource-exhausted",
  UNAVAILABLE: "unavailable",
};

/** The retry_on names of GRPCRoute retry codes; codes Envoy cannot name are dropped. */
export function grpcRetryOn(codes: readonly (string | number)[] | undefined): string[] {
  if (codes === undefined || codes.length === 0) return ["unavailable"];
  const names = new Set<string>();
  for (const code of codes) {
    const status = typeof code === "number" ? GRPC_STATUS_CODES[code] : code.toUpperCase();
    const name = status === undefined ? undefined : GRPC_RETRY_ON[status];
    if (name) names.add(name);
  }
  return [...names].sort(compareStrings);
}

function grpcRetryPolicy(rule: GRPCRouteRule): XdsMessage | undefined {
  const retry = rule.retry;
  if (!retry || retry.attempts === 0) return undefined;
  const retryOn = grpcRetryOn(retry.codes);
  if (retryOn.length === 0) return undefined;
  return {
    retry_on: retryOn.join(","),
    num_retries: wrap(retry.attempts ?? 1),
    ...backOff(retry.backoff),
  };
}

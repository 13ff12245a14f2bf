// The logical stage of the sidecar's L7 router: which virtual host, route and cluster a
// request goes to, by Envoy's rules, over a RouteConfiguration as the xDS client decoded it
// (protobufjs toObject: snake_case, enum names, wrappers as {value} or {} for the default,
// int64 as strings). Pure: the weighted pick takes its random number from the caller. What
// the sidecar cannot do as Envoy would (rewrites, redirects, matchers it does not evaluate)
// is answered NOT_SUPPORTED, never routed somewhere else instead.

import { isRec, type Rec } from "../../api/validate-common.js";
import { type HashPolicy, routeHashPolicies } from "../proxy/hash-policy.js";
import { compileSafeRegex } from "../xds/resources.js";

export interface RequestFacts {
  readonly method: string;
  /** :path, with the query string. */
  readonly path: string;
  /** :authority (or Host), possibly with a port. */
  readonly authority: string;
  /** Lower-case names; several values joined with ",". */
  readonly headers: Readonly<Record<string, string>>;
}

export interface RetryPolicy {
  readonly numRetries: number;
  /** Envoy retry_on conditions, split: "5xx", "reset", "retriable-status-codes", "unavailable"… */
  readonly retryOn: ReadonlySet<string>;
  readonly retriableStatusCodes: ReadonlySet<number>;
  readonly perTryTimeoutMs?: number;
  /** retry_back_off: base 25 ms and max 10× base by default, as Envoy's. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export interface RouteDecision {
  readonly virtualHost: string;
  /** The route's name, or "<vhost>/<index>" when it has none. */
  readonly route: string;
  /** After the weighted pick. */
  readonly cluster: string;
  /** Undefined for no timeout (Envoy's 0); Envoy's 15 s when the route sets none. */
  readonly timeoutMs?: number;
  /** The route's retry_policy, else its virtual host's. */
  readonly retry?: RetryPolicy;
  /** What to answer when `cluster` does not exist: cluster_not_found_response_code, 503 by default. */
  readonly clusterNotFoundStatus: number;
  /** The route's hash_policy: what a ring hash cluster hashes. */
  readonly hashPolicies?: readonly HashPolicy[];
}

export type RouteErrorCode = "NO_VIRTUAL_HOST" | "NO_ROUTE" | "DIRECT_RESPONSE" | "NOT_SUPPORTED";

export type RouteResult =
  | { readonly ok: true; readonly decision: RouteDecision }
  | {
      readonly ok: false;
      readonly code: RouteErrorCode;
      readonly message: string;
      /** DIRECT_RESPONSE: the status and (inline) body the route answers with. */
      readonly status?: number;
      readonly body?: string;
    };

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_BACKOFF_BASE_MS = 25;

// A route that needs one of these cannot be served as Envoy would serve it: it is answered
// NOT_SUPPORTED rather than served some other way.
const UNSUPPORTED_MATCH = ["runtime_fraction", "tls_context", "dynamic_metadata", "filter_state"];
const UNSUPPORTED_ACTION = `prefix_rewrite regex_rewrite path_rewrite_policy host_rewrite_literal
  host_rewrite_header host_rewrite_path_regex auto_host_rewrite cluster_header
  cluster_specifier_plugin inline_cluster_specifier_plugin`.split(/\s+/);
// Deprecated header specifiers the translator never emits; a matcher using one never holds,
// since reading it as a bare presence check would match too much.
const LEGACY_HEADER_MATCH =
  "exact_match safe_regex_match range_match prefix_match suffix_match contains_match".split(" ");

/** `random` in [0,1) picks among weighted clusters (injectable for tests). */
export function routeRequest(
  routeConfig: Record<string, unknown>,
  req: RequestFacts,
  random: () => number = Math.random,
): RouteResult {
  const vhost = selectVirtualHost(routeConfig, req.authority);
  if (!vhost) {
    const message = `no virtual host of ${String(routeConfig.name)} has a domain for ${req.authority}`;
    return fail("NO_VIRTUAL_HOST", message);
  }
  const vhostName = typeof vhost.name === "string" ? vhost.name : "";
  const end = req.path.search(/[?#]/);
  const path = end < 0 ? req.path : req.path.slice(0, end);
  const query = queryParams(req.path);
  for (const [index, route] of recs(vhost.routes).entries()) {
    const match = isRec(route.match) ? route.match : {};
    if (!matches(match, req, path, query)) continue;
    const routeName =
      typeof route.name === "string" && route.name ? route.name : `${vhostName}/${index}`;
    const unsupported = UNSUPPORTED_MATCH.find((k) => isSet(match[k]));
    if (unsupported !== undefined)
      return fail("NOT_SUPPORTED", `route ${routeName} matches on ${unsupported}`);
    return routeAction(route, vhost, vhostName, routeName, random);
  }
  return fail(
    "NO_ROUTE",
    `no route of virtual host ${vhostName} matches ${req.method} ${req.path}`,
  );
}

/**
 * The virtual host Envoy would pick for an authority: exact domain, then the longest
 * "*.suffix" / "suffix" wildcard, then longest "prefix*", then "*"; the authority with and
 * without its port.
 */
export function selectVirtualHost(
  routeConfig: Record<string, unknown>,
  authority: string,
): Record<string, unknown> | undefined {
  const host = authority.toLowerCase();
  const hosts = [host, withoutPort(host)];
  let best: Rec | undefined;
  let bestTier = Number.POSITIVE_INFINITY;
  let bestLength = -1;
  for (const vhost of recs(routeConfig.virtual_hosts)) {
    for (const d of Array.isArray(vhost.domains) ? vhost.domains : []) {
      if (typeof d !== "string") continue;
      const domain = d.toLowerCase();
      for (const h of hosts) {
        const m = domainMatch(domain, h);
        if (m && (m[0] < bestTier || (m[0] === bestTier && m[1] > bestLength))) {
          [best, bestTier, bestLength] = [vhost, ...m];
        }
      }
    }
  }
  return best;
}

/** [tier, length] of a matching domain: 0 exact, 1 suffix wildcard, 2 prefix wildcard, 3 "*". */
function domainMatch(domain: string, host: string): [number, number] | undefined {
  if (domain === "*") return [3, 0];
  // A wildcard never matches the empty string: "*.foo.com" does not take ".foo.com".
  const longer = host.length > domain.length - 1;
  if (domain.startsWith("*") && longer && host.endsWith(domain.slice(1))) return [1, domain.length];
  if (domain.endsWith("*") && longer && host.startsWith(domain.slice(0, -1)))
    return [2, domain.length];
  return domain === host ? [0, domain.length] : undefined;
}

function withoutPort(host: string): string {
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    return close > 0 ? host.slice(0, close + 1) : host;
  }
  const colon = host.indexOf(":");
  // Two colons or more is a bare IPv6 address, which has no port to strip.
  return colon >= 0 && colon === host.lastIndexOf(":") ? host.slice(0, colon) : host;
}

function matches(m: Rec, req: RequestFacts, path: string, query: Map<string, string>) {
  if (!pathMatches(m, path)) return false;
  if (m.grpc !== undefined && !isGrpc(req.headers["content-type"])) return false;
  if (!recs(m.headers).every((h) => headerMatches(h, req))) return false;
  return recs(m.query_parameters).every((q) => queryMatches(q, query));
}

function pathMatches(m: Rec, path: string): boolean {
  const sensitive = !isRec(m.case_sensitive) || m.case_sensitive.value === true;
  const fold = (s: string) => (sensitive ? s : s.toLowerCase());
  const p = fold(path);
  if (typeof m.prefix === "string") return p.startsWith(fold(m.prefix));
  if (typeof m.path === "string") return p === fold(m.path);
  if (typeof m.path_separated_prefix === "string") {
    const prefix = fold(m.path_separated_prefix);
    return p === prefix || p.startsWith(`${prefix}/`);
  }
  // Envoy applies case_sensitive to prefix and path only, never to a regex.
  if (isRec(m.safe_regex)) return regexMatches(m.safe_regex, path);
  return false; // connect_matcher, path_match_policy: not something the sidecar routes by
}

function isGrpc(contentType: string | undefined): boolean {
  const ct = (contentType ?? "").toLowerCase();
  return ct === "application/grpc" || /^application\/grpc[+;]/.test(ct);
}

function headerValue(req: RequestFacts, name: string): string | undefined {
  if (name === ":method") return req.method;
  if (name === ":path") return req.path;
  if (name === ":authority") return req.authority;
  return Object.hasOwn(req.headers, name) ? req.headers[name] : undefined;
}

function headerMatches(h: Rec, req: RequestFacts): boolean {
  if (LEGACY_HEADER_MATCH.some((k) => h[k] !== undefined)) return false;
  const invert = h.invert_match === true;
  // Envoy reads a matcher with no specifier at all as "is present".
  const presence = isRec(h.string_match) ? undefined : h.present_match !== false;
  let value = headerValue(req, String(h.name ?? "").toLowerCase());
  if (value === undefined) {
    // Envoy: a missing header fails every matcher but "not present", inverted or not.
    if (h.treat_missing_header_as_empty !== true) return presence === invert;
    value = "";
  }
  const matched = isRec(h.string_match) ? stringMatches(h.string_match, value) : presence;
  return matched !== invert;
}

function stringMatches(sm: Rec, value: string): boolean {
  if (isRec(sm.safe_regex)) return regexMatches(sm.safe_regex, value);
  const fold = (s: string) => (sm.ignore_case === true ? s.toLowerCase() : s);
  const v = fold(value);
  if (typeof sm.exact === "string") return v === fold(sm.exact);
  if (typeof sm.prefix === "string") return v.startsWith(fold(sm.prefix));
  if (typeof sm.suffix === "string") return v.endsWith(fold(sm.suffix));
  if (typeof sm.contains === "string") return v.includes(fold(sm.contains));
  return false; // custom matchers: nothing the sidecar can evaluate
}

// Compiled once per matcher object: a configuration is immutable once validated, and the
// WeakMap lets a replaced configuration's regexes go with it.
const compiledRegex = new WeakMap<Rec, RegExp | null>();

function regexMatches(matcher: Rec, value: string): boolean {
  let re = compiledRegex.get(matcher);
  if (re === undefined) {
    try {
      re = compileSafeRegex(String(matcher.regex ?? ""));
    } catch {
      re = null; // validate-route refuses such a regex; one that slips through never matches
    }
    compiledRegex.set(matcher, re);
  }
  return re?.test(value) ?? false;
}

/** The query parameters of `path`, percent-decoded; the first value of a repeated name wins (Envoy's getFirstValue). */
function queryParams(path: string): Map<string, string> {
  const params = new Map<string, string>();
  const start = path.indexOf("?");
  if (start < 0) return params;
  const hash = path.indexOf("#", start);
  for (const part of path.slice(start + 1, hash < 0 ? undefined : hash).split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = percentDecode(eq < 0 ? part : part.slice(0, eq));
    if (!params.has(name)) params.set(name, eq < 0 ? "" : percentDecode(part.slice(eq + 1)));
  }
  return params;
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a malformed escape is kept as it came, as Envoy keeps it
  }
}

function queryMatches(q: Rec, params: Map<string, string>): boolean {
  const value = params.get(String(q.name ?? ""));
  if (value === undefined) return false;
  if (q.present_match === true || !isRec(q.string_match)) return true;
  return stringMatches(q.string_match, value);
}

function routeAction(
  route: Rec,
  vhost: Rec,
  vhostName: string,
  name: string,
  random: () => number,
): RouteResult {
  if (isRec(route.direct_response)) {
    const status = Number(route.direct_response.status ?? 0);
    const body = dataSourceText(route.direct_response.body);
    return {
      ok: false,
      code: "DIRECT_RESPONSE",
      message: `route ${name} answers ${status} itself`,
      status,
      ...(body === undefined ? {} : { body }),
    };
  }
  const action = route.route;
  if (!isRec(action)) {
    const kind = Object.keys(route).find((k) => k !== "name" && k !== "match") ?? "no action";
    return fail("NOT_SUPPORTED", `route ${name} has ${kind}, the sidecar only routes (or answers)`);
  }
  const unsupported = UNSUPPORTED_ACTION.find((k) => isSet(action[k]));
  if (unsupported !== undefined) return fail("NOT_SUPPORTED", `route ${name} sets ${unsupported}`);

  let cluster: unknown = action.cluster;
  if (isRec(action.weighted_clusters)) {
    const picked = pickWeighted(recs(action.weighted_clusters.clusters), random);
    // Envoy finds no route entry when nothing can be picked, and answers 404 too.
    if (!picked) return fail("NO_ROUTE", `route ${name}: its cluster weights sum to 0`);
    cluster = picked.name;
  }
  if (typeof cluster !== "string" || cluster === "") {
    return fail("NOT_SUPPORTED", `route ${name} names no cluster (cluster_header?)`);
  }
  const timeout = action.timeout === undefined ? DEFAULT_TIMEOUT_MS : durationMs(action.timeout);
  const policy = [action.retry_policy, vhost.retry_policy].find(isRec);
  const hashPolicies = routeHashPolicies(action.hash_policy);
  const decision: RouteDecision = {
    virtualHost: vhostName,
    route: name,
    cluster,
    ...(timeout ? { timeoutMs: timeout } : {}),
    ...(policy ? { retry: retryPolicy(policy) } : {}),
    clusterNotFoundStatus: clusterNotFoundStatus(action.cluster_not_found_response_code),
    ...(hashPolicies.length > 0 ? { hashPolicies } : {}),
  };
  return { ok: true, decision };
}

/** RouteAction.ClusterNotFoundResponseCode (by name, or number) as the status it stands for. */
function clusterNotFoundStatus(code: unknown): number {
  if (code === "NOT_FOUND" || code === 1) return 404;
  if (code === "INTERNAL_SERVER_ERROR" || code === 2) return 500;
  return 503; // SERVICE_UNAVAILABLE, Envoy's default
}

/**
 * A weighted pick over the sum of the weights. total_weight is not consulted: Envoy
 * deprecated it and, while it was honoured, refused any configuration where it was not
 * that same sum.
 */
function pickWeighted(clusters: Rec[], random: () => number): Rec | undefined {
  const weights = clusters.map((c) => uint32(c.weight) ?? 0);
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  const target = Math.min(Math.floor(random() * total), total - 1);
  let end = 0;
  for (const [i, weight] of weights.entries()) {
    end += weight;
    if (target < end) return clusters[i];
  }
  return undefined;
}

function retryPolicy(p: Rec): RetryPolicy {
  const retryOn = String(p.retry_on ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const codes = Array.isArray(p.retriable_status_codes) ? p.retriable_status_codes.map(Number) : [];
  const perTry = durationMs(p.per_try_timeout);
  const backOff = isRec(p.retry_back_off) ? p.retry_back_off : {};
  const base = durationMs(backOff.base_interval) || DEFAULT_BACKOFF_BASE_MS;
  const max = durationMs(backOff.max_interval) || base * 10;
  return {
    numRetries: uint32(p.num_retries) ?? 1, // Envoy's default when num_retries is unset
    retryOn: new Set(retryOn),
    retriableStatusCodes: new Set(codes.filter(Number.isInteger)),
    ...(perTry ? { perTryTimeoutMs: perTry } : {}),
    backoffBaseMs: base,
    backoffMaxMs: Math.max(max, base),
  };
}

// ---- decoded-protobuf shapes ----

const recs = (v: unknown): Rec[] => (Array.isArray(v) ? v.filter(isRec) : []);

/** A UInt32Value ({value: 3}; {} is 0), undefined when unset. */
function uint32(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  return isRec(v) ? Number(v.value ?? 0) : undefined;
}

/** A Duration ({seconds: "5", nanos: 0}, seconds an int64 string) in milliseconds; 0 when unset. */
function durationMs(v: unknown): number {
  if (!isRec(v)) return 0;
  return Number(v.seconds ?? 0) * 1000 + Number(v.nanos ?? 0) / 1e6;
}

/** Whether a field holds a value in toObject form (proto3 drops defaults; {} is a default wrapper). */
function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === "" || v === false) return false;
  if (Array.isArray(v)) return v.length > 0;
  return !isRec(v) || (Object.keys(v).length > 0 && v.value !== false);
}

/** An inline DataSource's text (files and environment variables are not read). */
function dataSourceText(v: unknown): string | undefined {
  if (!isRec(v)) return undefined;
  if (typeof v.inline_string === "string") return v.inline_string;
  return v.inline_bytes instanceof Uint8Array ? Buffer.from(v.inline_bytes).toString() : undefined;
}

const fail = (code: RouteErrorCode, message: string): RouteResult => ({ ok: false, code, message });

// Gateway API route matches → Envoy RouteMatches, and the order they are tried in. Every
// match kind used here is one grpc-js accepts (prefix, path, safe_regex; string_match
// headers), because proxyless clients get the very same RouteConfiguration objects: so a
// PathPrefix "/foo" becomes two Envoy routes, path "/foo" and prefix "/foo/", instead of
// path_separated_prefix, which grpc-js rejects.

import type { GRPCMethodMatch, HTTPHeaderMatch, HTTPRouteMatch } from "../../api/types.js";
import type { XdsMessage } from "../../api/xds-proto.js";
import { compareStrings } from "./model.js";
import { quoteRegex } from "./proto.js";

export type PathKind = "Exact" | "RegularExpression" | "PathPrefix";

/** What decides a match's precedence among all matches attached to one Service port. */
export interface MatchRank {
  readonly pathKind: PathKind;
  /** Characters of the path (prefix, exact path or regex). */
  readonly pathLength: number;
  readonly method: boolean;
  readonly headers: number;
  readonly queryParams: number;
  /** The route's creationTimestamp ("" when unknown: sorts as the newest). */
  readonly created: string;
  /** The route's "namespace/name". */
  readonly route: string;
  readonly ruleIndex: number;
  readonly matchIndex: number;
}

const PATH_KIND_ORDER: Readonly<Record<PathKind, number>> = {
  Exact: 0,
  RegularExpression: 1,
  PathPrefix: 2,
};

/**
 * Gateway API precedence: exact path, then (Trellis' choice for the implementation-specific
 * case) regular expressions, then the longest prefix; then a method match, more header
 * matches, more query-parameter matches; then the oldest route, then namespace/name, then
 * rule and match order. Negative when `a` is tried first.
 */
export function compareMatchRank(a: MatchRank, b: MatchRank): number {
  return (
    PATH_KIND_ORDER[a.pathKind] - PATH_KIND_ORDER[b.pathKind] ||
    b.pathLength - a.pathLength ||
    Number(b.method) - Number(a.method) ||
    b.headers - a.headers ||
    b.queryParams - a.queryParams ||
    compareCreated(a.created, b.created) ||
    compareStrings(a.route, b.route) ||
    a.ruleIndex - b.ruleIndex ||
    a.matchIndex - b.matchIndex
  );
}

function compareCreated(a: string, b: string): number {
  if (a === b) return 0;
  if (a === "") return 1;
  if (b === "") return -1;
  return compareStrings(a, b);
}

/** A converted match: its precedence fields and the Envoy RouteMatches (1 or 2) it became. */
export interface ConvertedMatch {
  readonly pathKind: PathKind;
  readonly pathLength: number;
  readonly method: boolean;
  readonly headers: number;
  readonly queryParams: number;
  readonly envoy: readonly XdsMessage[];
}

function headerMatchers(headers: readonly HTTPHeaderMatch[] | undefined): XdsMessage[] {
  return (headers ?? []).map((h) => ({
    name: h.name.toLowerCase(),
    string_match:
      h.type === "RegularExpression" ? { safe_regex: { regex: h.value } } : { exact: h.value },
  }));
}

/** Gateway API ignores a PathPrefix's trailing slash: "/foo/" is "/foo". */
function normalizePrefix(value: string): string {
  const trimmed = value.replace(/\/+$/, "");
  return trimmed === "" ? "/" : trimmed;
}

export function convertHttpMatch(m: HTTPRouteMatch): ConvertedMatch {
  const type = m.path?.type ?? "PathPrefix";
  const value = m.path?.value ?? "/";
  const headers = headerMatchers(m.headers);
  if (m.method) headers.push({ name: ":method", string_match: { exact: m.method } });
  const query = (m.queryParams ?? []).map((q) => ({
    name: q.name,
    string_match:
      q.type === "RegularExpression" ? { safe_regex: { regex: q.value } } : { exact: q.value },
  }));
  const extra: XdsMessage = {
    ...(headers.length > 0 ? { headers } : {}),
    ...(query.length > 0 ? { query_parameters: query } : {}),
  };
  let envoy: XdsMessage[];
  let length = value.length;
  if (type === "Exact") envoy = [{ path: value, ...extra }];
  else if (type === "RegularExpression") envoy = [{ safe_regex: { regex: value }, ...extra }];
  else {
    const prefix = normalizePrefix(value);
    length = prefix.length;
    envoy =
      prefix === "/"
        ? [{ prefix: "/", ...extra }]
        : [
            { path: prefix, ...extra },
            { prefix: `${prefix}/`, ...extra },
          ];
  }
  return {
    pathKind: type,
    pathLength: length,
    method: m.method !== undefined,
    headers: m.headers?.length ?? 0,
    queryParams: m.queryParams?.length ?? 0,
    envoy,
  };
}

/**
 * A GRPCRoute match: gRPC requests are POST /<service>/<method>. Exact service+method → an
 * exact path; service only → prefix "/<service>/"; method only or RegularExpression → a
 * regex over the path; neither → every request.
 */
export function convertGrpcMatch(m: {
  method?: GRPCMethodMatch;
  headers?: HTTPHeaderMatch[];
}): ConvertedMatch {
  const headers = headerMatchers(m.headers);
  const extra: XdsMessage = headers.length > 0 ? { headers } : {};
  const { service, method, type = "Exact" } = m.method ?? {};
  let kind: PathKind;
  let path: XdsMessage;
  let length: number;
  if (service === undefined && method === undefined) {
    kind = "PathPrefix";
    path = { prefix: "/" };
    length = 1;
  } else if (type === "Exact" && service !== undefined && method !== undefined) {
    kind = "Exact";
    path = { path: `/${service}/${method}` };
    length = service.length + method.length + 2;
  } else if (type === "Exact" && method === undefined && service !== undefined) {
    kind = "PathPrefix";
    path = { prefix: `/${service}/` };
    length = service.length + 2;
  } else {
    const s = service === undefined ? "[^/]+" : type === "Exact" ? quoteRegex(service) : service;
    const me = method === undefined ? "[^/]+" : type === "Exact" ? quoteRegex(method) : method;
    kind = "RegularExpression";
    path = { safe_regex: { regex: `/${s}/${me}` } };
    length = s.length + me.length + 2;
  }
  return {
    pathKind: kind,
    pathLength: length,
    method: false,
    headers: m.headers?.length ?? 0,
    queryParams: 0,
    envoy: [{ ...path, ...extra }],
  };
}

// The sidecar's logical routing stage: every route in the translator's golden
// RouteConfigurations, decoded as the xDS client decodes them, is reached by a request built
// from its own match, with its weighted split, timeout and retry policy read as Envoy reads
// them; then tables for Envoy's rules — virtual host order, first match wins, path, header
// and query matchers, the route actions, timeouts and retries.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { messageType, TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import {
  type RequestFacts,
  type RouteDecision,
  type RouteResult,
  routeRequest,
  selectVirtualHost,
} from "../../sidecar/http/route-match.js";
import { decodeResource } from "../../sidecar/xds/resources.js";

const goldenDir = join(
  fileURLToPath(new URL("../../../", import.meta.url)),
  "test/control-plane/golden",
);

/** A golden file's RouteConfigurations, encoded with the real protos and decoded by the sidecar. */
function goldenRoutes(file: string): Map<string, XdsMessage> {
  const snapshot = JSON.parse(readFileSync(join(goldenDir, `${file}.json`), "utf8"));
  const type = messageType(TypeUrl.RouteConfiguration);
  const out = new Map<string, XdsMessage>();
  for (const [name, rc] of Object.entries(snapshot.RouteConfiguration as Record<string, object>)) {
    const value = type.encode(type.fromObject(rc)).finish();
    const decoded = decodeResource(TypeUrl.RouteConfiguration, {
      type_url: TypeUrl.RouteConfiguration,
      value,
    });
    if (!decoded.ok) assert.fail(`${name}: ${decoded.errors.join("; ")}`);
    out.set(name, decoded.resource.message);
  }
  return out;
}

function request(path = "/", over: Partial<RequestFacts> = {}): RequestFacts {
  return { method: "GET", path, authority: "svc.test", headers: {}, ...over };
}

function decided(result: RouteResult): RouteDecision {
  if (!result.ok) assert.fail(`${result.code}: ${result.message}`);
  return result.decision;
}

function refused(result: RouteResult, code: string): { message: string; status?: number } {
  if (result.ok) assert.fail(`routed to ${result.decision.route}, expected ${code}`);
  assert.equal(result.code, code, result.message);
  return result;
}

// A value each golden safe_regex matches (the test fails on one it does not know).
const REGEX_SAMPLES: Readonly<Record<string, string>> = { "/v[0-9]+/.*": "/v2/items" };

/** A request aimed at `match`: its path, its header and query matchers' values, gRPC if asked. */
function requestFor(match: XdsMessage, authority: string): RequestFacts {
  const sample = (m: XdsMessage) => {
    const sm = (m.string_match ?? {}) as XdsMessage;
    const regex = (sm.safe_regex as XdsMessage | undefined)?.regex as string | undefined;
    if (regex === undefined) return String(sm.exact ?? sm.prefix ?? sm.suffix ?? sm.contains ?? "");
    const value = REGEX_SAMPLES[regex];
    if (value === undefined) assert.fail(`no sample for the regex ${regex}`);
    return value;
  };
  let path =
    typeof match.path === "string"
      ? match.path
      : typeof match.prefix === "string"
        ? `${match.prefix}probe`
        : sample({ string_match: { safe_regex: match.safe_regex } });
  let method = "POST";
  const headers: Record<string, string> = {};
  for (const h of (match.headers ?? []) as XdsMessage[]) {
    if (h.name === ":method") method = sample(h);
    else headers[String(h.name)] = sample(h);
  }
  const query = ((match.query_parameters ?? []) as XdsMessage[]).map(
    (q) => `${q.name}=${encodeURIComponent(sample(q))}`,
  );
  if (query.length > 0) path += `?${query.join("&")}`;
  if (match.grpc) headers["content-type"] = "application/grpc";
  return { method, path, authority, headers };
}

describe("routeRequest: the translator's golden RouteConfigurations", () => {
  for (const file of ["sidecar-backend", "proxyless"]) {
    const configs = goldenRoutes(file);

    it(`${file}: a request built from each route's match selects that route`, () => {
      let checked = 0;
      for (const [name, rc] of configs) {
        const vhost = (rc.virtual_hosts as XdsMessage[])[0] as XdsMessage;
        for (const route of vhost.routes as XdsMessage[]) {
          const req = requestFor(route.match as XdsMessage, name);
          const d = decided(routeRequest(rc, req, () => 0));
          const action = route.route as XdsMessage;
          const first = (action.weighted_clusters as XdsMessage | undefined)?.clusters as
            | XdsMessage[]
            | undefined;
          assert.equal(d.virtualHost, name);
          assert.equal(d.route, route.name, `${name} ${req.method} ${req.path}`);
          assert.equal(d.cluster, action.cluster ?? first?.[0]?.name);
          checked++;
        }
      }
      assert.equal(checked, 8);
    });

    it(`${file}: the canary split sends 90 % to backend and 10 % to backend-v2`, () => {
      const rc = configs.get("backend.shop.svc.cluster.local:80") as XdsMessage;
      const backend = "outbound|80||backend.shop.svc.cluster.local";
      const v2 = "outbound|80||backend-v2.shop.svc.cluster.local";
      for (const path of ["/api", "/api/items?page=2"]) {
        const req = request(path, { method: "POST", headers: { "x-canary": "true" } });
        const pick = (r: number) => decided(routeRequest(rc, req, () => r)).cluster;
        assert.deepEqual([0, 0.5, 0.899, 0.9, 0.99].map(pick), [backend, backend, backend, v2, v2]);
      }
      // Without the header no route matches: the split is for canary traffic only.
      refused(routeRequest(rc, request("/api", { method: "POST" })), "NO_ROUTE");
    });

    it(`${file}: the canary route's timeout and retry policy`, () => {
      const rc = configs.get("backend.shop.svc.cluster.local:80") as XdsMessage;
      const d = decided(routeRequest(rc, request("/api/x", { headers: { "x-canary": "true" } })));
      assert.equal(d.timeoutMs, 5000);
      assert.deepEqual(d.retry, {
        numRetries: 3,
        retryOn: new Set(["retriable-status-codes", "connect-failure", "refused-stream", "reset"]),
        retriableStatusCodes: new Set([503]),
        perTryTimeoutMs: 1000,
        backoffBaseMs: 100,
        backoffMaxMs: 1000,
      });
      assert.equal(d.clusterNotFoundStatus, 503);
    });

    it(`${file}: /healthz is GET only and has no timeout; the unresolved rule answers 500`, () => {
      const rc = configs.get("backend.shop.svc.cluster.local:80") as XdsMessage;
      const health = decided(routeRequest(rc, request("/healthz")));
      assert.equal(health.route, "shop.backend-split.1.0");
      assert.equal(health.timeoutMs, undefined); // timeout: 0s is "none", not 0 ms
      assert.equal(health.retry, undefined);
      refused(routeRequest(rc, request("/healthz", { method: "DELETE" })), "NO_ROUTE");
      const invalid = decided(routeRequest(rc, request("/v1/anything")));
      assert.equal(invalid.cluster, "InvalidBackendCluster");
      assert.equal(invalid.clusterNotFoundStatus, 500);
    });

    it(`${file}: gRPC methods — GetItem with its retries, the rest of the service without`, () => {
      const rc = configs.get("backend.shop.svc.cluster.local:9090") as XdsMessage;
      const grpc = (path: string) =>
        request(path, {
          method: "POST",
          authority: "backend.shop.svc.cluster.local:9090",
          headers: { "content-type": "application/grpc" },
        });
      const get = decided(routeRequest(rc, grpc("/shop.Catalog/GetItem")));
      assert.equal(get.route, "shop.backend-grpc.0.0");
      assert.equal(get.timeoutMs, 2000);
      assert.deepEqual(get.retry, {
        numRetries: 2,
        retryOn: new Set(["resource-exhausted", "unavailable"]),
        retriableStatusCodes: new Set(),
        backoffBaseMs: 25,
        backoffMaxMs: 250,
      });
      const list = decided(routeRequest(rc, grpc("/shop.Catalog/ListItems")));
      assert.equal(list.route, "shop.backend-grpc.1.0");
      assert.equal(list.timeoutMs, undefined);
      assert.equal(list.retry, undefined);
      refused(routeRequest(rc, grpc("/shop.Cart/Add")), "NO_ROUTE");
    });
  }
});

// ---- tables ----

const rc = (...virtualHosts: XdsMessage[]): XdsMessage => ({
  name: "test",
  virtual_hosts: virtualHosts,
});
const vh = (name: string, domains: string[], routes: XdsMessage[] = []): XdsMessage => ({
  name,
  domains,
  routes,
});
const to = (cluster: string, match: XdsMessage, action: XdsMessage = {}): XdsMessage => ({
  name: cluster,
  match,
  route: { cluster, ...action },
});
/** The cluster `req` goes to in a "*" virtual host of `routes`, or the refusal's code. */
function outcome(routes: XdsMessage[], req: RequestFacts): string {
  const result = routeRequest(rc(vh("any", ["*"], routes)), req);
  return result.ok ? result.decision.cluster : result.code;
}

describe("selectVirtualHost: Envoy's domain order", () => {
  const config = rc(
    vh("exact", ["api.example.com"]),
    vh("suffix", ["*.example.com"]),
    vh("longer-suffix", ["*.api.example.com"]),
    vh("dash-suffix", ["*-bar.foo.com"]),
    vh("org", ["*.org"]),
    vh("prefix", ["api.*"]),
    vh("longer-prefix", ["api.internal.*"]),
    vh("with-port", ["db.example.com:5432"]),
    vh("mixed-case", ["Shop.Example.NET"]),
    vh("ipv6", ["[::1]"]),
    vh("any", ["*"]),
  );
  const table: [string, string][] = [
    ["api.example.com", "exact"],
    ["API.Example.COM", "exact"],
    ["api.example.com:8080", "exact"],
    ["www.example.com", "suffix"],
    ["v1.api.example.com", "longer-suffix"],
    ["baz-bar.foo.com", "dash-suffix"],
    ["-bar.foo.com", "any"], // a wildcard never matches the empty string
    [".example.com", "any"],
    ["api.other.net", "prefix"],
    ["api.internal.net:80", "longer-prefix"],
    ["api.internal.org", "org"], // any suffix wildcard beats any prefix wildcard, however long
    ["db.example.com:5432", "with-port"],
    ["db.example.com:6000", "suffix"],
    ["shop.example.net", "mixed-case"],
    ["[::1]:15001", "ipv6"],
    ["elsewhere.io", "any"],
    ["", "any"],
  ];
  for (const [authority, expected] of table) {
    it(`${JSON.stringify(authority)} → ${expected}`, () => {
      assert.equal(selectVirtualHost(config, authority)?.name, expected);
    });
  }

  it("without a '*' virtual host an unknown authority has none: NO_VIRTUAL_HOST", () => {
    const only = rc(vh("exact", ["api.example.com"], [to("c", { prefix: "/" })]));
    assert.equal(selectVirtualHost(only, "other.example.com"), undefined);
    const { message } = refused(
      routeRequest(only, request("/", { authority: "other.example.com" })),
      "NO_VIRTUAL_HOST",
    );
    assert.match(message, /other\.example\.com/);
    refused(routeRequest({ name: "empty" }, request()), "NO_VIRTUAL_HOST");
  });
});

describe("routeRequest: path matching", () => {
  const routes = [
    to("exact", { path: "/exact" }),
    to("regex", { safe_regex: { regex: "/re/[0-9]+" } }),
    to("separated", { path_separated_prefix: "/sep" }),
    to("insensitive", { prefix: "/CI/", case_sensitive: {} }),
    to("insensitive-explicit", { path: "/Ci2", case_sensitive: { value: false } }),
    to("sensitive-explicit", { path: "/Cs", case_sensitive: { value: true } }),
    to("prefix", { prefix: "/pre" }),
    to("shadowed", { path: "/prefix/shadowed" }),
  ];
  const table: [string, string][] = [
    ["/exact", "exact"],
    ["/exact?x=1", "exact"], // the query string is not part of the path
    ["/exact#frag", "exact"],
    ["/EXACT", "NO_ROUTE"], // case_sensitive defaults to true
    ["/exact/", "NO_ROUTE"],
    ["/re/42", "regex"],
    ["/re/42?q=/re/x", "regex"],
    ["/re/42/x", "NO_ROUTE"], // safe_regex matches the whole path
    ["/sep", "separated"],
    ["/sep/a", "separated"],
    ["/separate", "NO_ROUTE"],
    ["/ci/x", "insensitive"],
    ["/cI/x", "insensitive"],
    ["/ci2", "insensitive-explicit"],
    ["/cs", "NO_ROUTE"],
    ["/Cs", "sensitive-explicit"],
    ["/prefix/shadowed", "prefix"], // the first match wins, however specific a later one is
    ["/pre", "prefix"],
    ["/other", "NO_ROUTE"],
  ];
  for (const [path, expected] of table) {
    it(`${path} → ${expected}`, () => assert.equal(outcome(routes, request(path)), expected));
  }

  it("names an unnamed route by its virtual host and index", () => {
    const config = rc(vh("web", ["*"], [{ match: { path: "/a" }, route: { cluster: "c" } }]));
    assert.equal(decided(routeRequest(config, request("/a"))).route, "web/0");
  });
});

describe("routeRequest: header, gRPC and query-parameter matchers", () => {
  const header = (h: XdsMessage) => [to("match", { prefix: "/", headers: [h] })];
  const table: [string, XdsMessage, Record<string, string>, string][] = [
    ["exact", { name: "x-env", string_match: { exact: "prod" } }, { "x-env": "prod" }, "match"],
    [
      "exact, other value",
      { name: "x-env", string_match: { exact: "prod" } },
      { "x-env": "dev" },
      "NO_ROUTE",
    ],
    ["name case", { name: "X-Env", string_match: { exact: "prod" } }, { "x-env": "prod" }, "match"],
    [
      "inverted",
      { name: "x-env", string_match: { exact: "prod" }, invert_match: true },
      { "x-env": "dev" },
      "match",
    ],
    [
      "inverted, equal",
      { name: "x-env", string_match: { exact: "prod" }, invert_match: true },
      { "x-env": "prod" },
      "NO_ROUTE",
    ],
    // Envoy: a missing header fails an inverted value matcher too.
    [
      "inverted, absent",
      { name: "x-env", string_match: { exact: "prod" }, invert_match: true },
      {},
      "NO_ROUTE",
    ],
    ["present", { name: "x-env", present_match: true }, { "x-env": "" }, "match"],
    ["present, absent", { name: "x-env", present_match: true }, {}, "NO_ROUTE"],
    ["not present", { name: "x-env", present_match: false }, {}, "match"],
    ["not present, present", { name: "x-env", present_match: false }, { "x-env": "a" }, "NO_ROUTE"],
    ["present inverted", { name: "x-env", present_match: true, invert_match: true }, {}, "match"],
    ["no specifier is presence", { name: "x-env" }, { "x-env": "a" }, "match"],
    [
      "missing as empty",
      { name: "x-env", string_match: { exact: "" }, treat_missing_header_as_empty: true },
      {},
      "match",
    ],
    ["prefix", { name: "ua", string_match: { prefix: "curl/" } }, { ua: "curl/8.5" }, "match"],
    ["suffix", { name: "ua", string_match: { suffix: ".5" } }, { ua: "curl/8.5" }, "match"],
    ["contains", { name: "ua", string_match: { contains: "rl/8" } }, { ua: "curl/8.5" }, "match"],
    [
      "ignore_case",
      { name: "ua", string_match: { prefix: "CURL", ignore_case: true } },
      { ua: "curl/8" },
      "match",
    ],
    [
      "case matters",
      { name: "ua", string_match: { prefix: "CURL" } },
      { ua: "curl/8" },
      "NO_ROUTE",
    ],
    [
      "regex",
      { name: "v", string_match: { safe_regex: { regex: "v[0-9]+" } } },
      { v: "v12" },
      "match",
    ],
    [
      "regex is anchored",
      { name: "v", string_match: { safe_regex: { regex: "v[0-9]+" } } },
      { v: "v12b" },
      "NO_ROUTE",
    ],
    [
      "values joined",
      { name: "accept", string_match: { exact: "a,b" } },
      { accept: "a,b" },
      "match",
    ],
    ["not the prototype", { name: "constructor", present_match: true }, {}, "NO_ROUTE"],
    ["legacy exact_match", { name: "x-env", exact_match: "prod" }, { "x-env": "prod" }, "NO_ROUTE"],
  ];
  for (const [title, matcher, headers, expected] of table) {
    it(`${title} → ${expected}`, () => {
      assert.equal(outcome(header(matcher), request("/", { headers })), expected);
    });
  }

  it("reads :method, :path (with its query) and :authority as headers", () => {
    const routes = [
      to("post", { prefix: "/", headers: [{ name: ":method", string_match: { exact: "POST" } }] }),
      to("debug", {
        prefix: "/",
        headers: [{ name: ":path", string_match: { contains: "debug=1" } }],
      }),
      to("admin", {
        prefix: "/",
        headers: [{ name: ":authority", string_match: { prefix: "admin." } }],
      }),
    ];
    assert.equal(outcome(routes, request("/", { method: "POST" })), "post");
    assert.equal(outcome(routes, request("/x?debug=1")), "debug");
    assert.equal(outcome(routes, request("/", { authority: "admin.svc:80" })), "admin");
    assert.equal(outcome(routes, request("/")), "NO_ROUTE");
  });

  it("grpc: {} takes application/grpc and its +subtypes only", () => {
    const routes = [to("grpc", { prefix: "/", grpc: {} })];
    const withType = (ct: string) => request("/svc/M", { headers: { "content-type": ct } });
    assert.equal(outcome(routes, withType("application/grpc")), "grpc");
    assert.equal(outcome(routes, withType("application/grpc+proto")), "grpc");
    assert.equal(outcome(routes, withType("application/grpc-web")), "NO_ROUTE");
    assert.equal(outcome(routes, withType("application/json")), "NO_ROUTE");
    assert.equal(outcome(routes, request("/svc/M")), "NO_ROUTE");
  });

  it("query_parameters: the first value, percent-decoded; present_match", () => {
    const routes = [
      to("v2", { prefix: "/", query_parameters: [{ name: "v", string_match: { exact: "2" } }] }),
      to("spaced", {
        prefix: "/",
        query_parameters: [{ name: "q", string_match: { exact: "a b" } }],
      }),
      to("flag", { prefix: "/", query_parameters: [{ name: "debug", present_match: true }] }),
    ];
    assert.equal(outcome(routes, request("/x?v=2")), "v2");
    assert.equal(outcome(routes, request("/x?a=1&v=2")), "v2");
    assert.equal(outcome(routes, request("/x?v=2&v=3")), "v2");
    assert.equal(outcome(routes, request("/x?v=3&v=2")), "NO_ROUTE");
    assert.equal(outcome(routes, request("/x?q=a%20b")), "spaced");
    assert.equal(outcome(routes, request("/x?debug")), "flag");
    assert.equal(outcome(routes, request("/x?debugging=1")), "NO_ROUTE");
    assert.equal(outcome(routes, request("/x")), "NO_ROUTE");
  });
});

describe("routeRequest: route actions", () => {
  const weighted = (...weights: [string, XdsMessage | undefined][]) => [
    {
      match: { prefix: "/" },
      route: {
        weighted_clusters: {
          clusters: weights.map(([name, weight]) => (weight ? { name, weight } : { name })),
        },
      },
    },
  ];
  const pick = (routes: XdsMessage[], r: number) =>
    decided(routeRequest(rc(vh("any", ["*"], routes)), request(), () => r)).cluster;

  it("picks by cumulative weight; a zero weight is never picked", () => {
    const routes = weighted(
      ["a", { value: 1 }],
      ["none", {}],
      ["b", { value: 2 }],
      ["c", { value: 1 }],
    );
    assert.deepEqual(
      [0, 0.24, 0.25, 0.74, 0.75, 0.999, 1].map((r) => pick(routes, r)),
      ["a", "a", "b", "b", "c", "c", "c"],
    );
  });

  it("weights summing to 0: no cluster can be picked, NO_ROUTE (Envoy's 404)", () => {
    const routes = weighted(["a", { value: 0 }], ["b", {}], ["c", undefined]);
    const { message } = refused(routeRequest(rc(vh("any", ["*"], routes)), request()), "NO_ROUTE");
    assert.match(message, /sum to 0/);
  });

  it("direct_response answers with its status and body", () => {
    const routes = [
      { match: { prefix: "/" }, direct_response: { status: 418, body: { inline_string: "tea" } } },
    ];
    const result = refused(
      routeRequest(rc(vh("any", ["*"], routes)), request()),
      "DIRECT_RESPONSE",
    );
    assert.equal(result.status, 418);
    assert.equal((result as { body?: string }).body, "tea");
  });

  it("redirects, rewrites, cluster_header and unevaluated matchers are NOT_SUPPORTED, not routed elsewhere", () => {
    const fallback = to("fallback", { prefix: "/" });
    const cases: XdsMessage[] = [
      { match: { prefix: "/" }, redirect: { path_redirect: "/new" } },
      to("c", { prefix: "/" }, { prefix_rewrite: "/v2/" }),
      to("c", { prefix: "/" }, { host_rewrite_literal: "other" }),
      { match: { prefix: "/" }, route: { cluster_header: "x-cluster" } },
      to("c", { prefix: "/", runtime_fraction: { default_value: { numerator: 50 } } }),
    ];
    for (const route of cases) {
      assert.equal(
        outcome([route, fallback], request("/x")),
        "NOT_SUPPORTED",
        JSON.stringify(route),
      );
    }
    // A default (unset) wrapper is no rewrite at all.
    assert.equal(outcome([to("c", { prefix: "/" }, { auto_host_rewrite: {} })], request()), "c");
  });

  it("cluster_not_found_response_code: 503 by default, by enum name or number", () => {
    const status = (code: unknown) =>
      decided(
        routeRequest(
          rc(
            vh("any", ["*"], [to("c", { prefix: "/" }, { cluster_not_found_response_code: code })]),
          ),
          request(),
        ),
      ).clusterNotFoundStatus;
    assert.deepEqual(
      [undefined, "SERVICE_UNAVAILABLE", "NOT_FOUND", "INTERNAL_SERVER_ERROR", 1].map(status),
      [503, 503, 404, 500, 404],
    );
  });
});

describe("routeRequest: timeouts and retry policies", () => {
  const route = (action: XdsMessage, vhostExtra: XdsMessage = {}) =>
    decided(
      routeRequest(
        rc({ ...vh("any", ["*"], [to("c", { prefix: "/" }, action)]), ...vhostExtra }),
        request(),
      ),
    );

  it("timeout: Envoy's 15 s when unset, none for 0, else the duration", () => {
    assert.equal(route({}).timeoutMs, 15_000);
    assert.equal(route({ timeout: { seconds: "0" } }).timeoutMs, undefined);
    assert.equal(route({ timeout: {} }).timeoutMs, undefined);
    assert.equal(route({ timeout: { seconds: "1", nanos: 500_000_000 } }).timeoutMs, 1500);
    assert.equal(route({ timeout: { seconds: 3 } }).timeoutMs, 3000);
    assert.equal(route({ timeout: { nanos: 250_000_000 } }).timeoutMs, 250);
  });

  it("retry_policy: Envoy's defaults (1 retry, 25 ms base, 10× max); retry_on split and trimmed", () => {
    assert.equal(route({}).retry, undefined);
    assert.deepEqual(route({ retry_policy: { retry_on: "5xx, reset,,gateway-error" } }).retry, {
      numRetries: 1,
      retryOn: new Set(["5xx", "reset", "gateway-error"]),
      retriableStatusCodes: new Set(),
      backoffBaseMs: 25,
      backoffMaxMs: 250,
    });
    const retry = route({
      retry_policy: {
        retry_on: "retriable-status-codes",
        num_retries: {},
        retriable_status_codes: [502, 504],
        per_try_timeout: { nanos: 300_000_000 },
        retry_back_off: { base_interval: { nanos: 50_000_000 } },
      },
    }).retry;
    assert.equal(retry?.numRetries, 0); // {} is a UInt32Value of 0: no retries
    assert.deepEqual(retry?.retriableStatusCodes, new Set([502, 504]));
    assert.equal(retry?.perTryTimeoutMs, 300);
    assert.deepEqual([retry?.backoffBaseMs, retry?.backoffMaxMs], [50, 500]);
  });

  it("the virtual host's retry_policy applies unless the route has its own", () => {
    const vhostPolicy = {
      retry_policy: { retry_on: "connect-failure", num_retries: { value: 4 } },
    };
    assert.equal(route({}, vhostPolicy).retry?.numRetries, 4);
    const own = route(
      { retry_policy: { retry_on: "5xx", num_retries: { value: 2 } } },
      vhostPolicy,
    );
    assert.equal(own.retry?.numRetries, 2);
    assert.deepEqual(own.retry?.retryOn, new Set(["5xx"]));
  });
});

// Table tests of the translator's routing decisions: protocol detection, Gateway API route
// precedence, backend weights and invalid backends, retries and timeouts.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HTTPRoute, HTTPRouteRule } from "../../api/types.js";
import { Enum } from "../../control-plane/translator/proto.js";
import { servicePortProtocol } from "../../control-plane/translator/protocol.js";
import {
  compareMatchRank,
  convertHttpMatch,
  type MatchRank,
} from "../../control-plane/translator/route-match.js";
import { attachedRoutes, grpcRetryOn, routeAction } from "../../control-plane/translator/routes.js";

describe("protocol detection", () => {
  const cases: [Parameters<typeof servicePortProtocol>[0], string | undefined][] = [
    [{ name: "http" }, "http"],
    [{ name: "http-api" }, "http"],
    [{ name: "HTTP2-x" }, "http2"],
    [{ name: "grpc" }, "grpc"],
    [{ name: "grpc-web" }, "grpc-web"],
    [{ name: "grpc-web-ui" }, "grpc-web"],
    [{ name: "tcp-postgres" }, "tcp"],
    [{ name: "tls" }, "tls"],
    [{ name: "metrics" }, "tcp"],
    [{ name: "webhttp" }, "tcp"],
    [{}, "tcp"],
    [{ name: "tcp", appProtocol: "grpc" }, "grpc"],
    [{ name: "grpc", appProtocol: "kubernetes.io/h2c" }, "http2"],
    [{ name: "http", appProtocol: "kubernetes.io/ws" }, "http"],
    [{ name: "http", appProtocol: "mystery" }, "http"],
    [{ name: "http", appProtocol: "tcp" }, "tcp"],
    [{ name: "dns", protocol: "UDP" }, undefined],
    [{ name: "http", protocol: "SCTP" }, undefined],
  ];
  for (const [port, want] of cases) {
    it(`${JSON.stringify(port)} → ${want}`, () => assert.equal(servicePortProtocol(port), want));
  }
});

describe("route precedence (Gateway API)", () => {
  const rank = (over: Partial<MatchRank>): MatchRank => ({
    pathKind: "PathPrefix",
    pathLength: 1,
    method: false,
    headers: 0,
    queryParams: 0,
    created: "2024-01-01T00:00:00Z",
    route: "ns/a",
    ruleIndex: 0,
    matchIndex: 0,
    ...over,
  });
  const cases: [string, Partial<MatchRank>, Partial<MatchRank>][] = [
    ["exact path beats a longer prefix", { pathKind: "Exact", pathLength: 2 }, { pathLength: 20 }],
    ["regex beats a prefix", { pathKind: "RegularExpression" }, { pathLength: 20 }],
    ["longer prefix first", { pathLength: 5 }, { pathLength: 4 }],
    ["method beats headers", { method: true }, { headers: 3 }],
    ["more headers first", { headers: 2 }, { headers: 1 }],
    ["more query params first", { queryParams: 1 }, {}],
    ["older route first", { created: "2023-01-01T00:00:00Z" }, {}],
    ["a route with a timestamp before one without", {}, { created: "" }],
    ["then namespace/name", { route: "ns/a" }, { route: "ns/b" }],
    ["then rule order", { ruleIndex: 0 }, { ruleIndex: 1 }],
    ["then match order", { matchIndex: 0 }, { matchIndex: 1 }],
  ];
  for (const [name, first, second] of cases) {
    it(name, () => {
      assert.ok(compareMatchRank(rank(first), rank(second)) < 0);
      assert.ok(compareMatchRank(rank(second), rank(first)) > 0);
    });
  }

  it("orders the Envoy routes of several HTTPRoutes", () => {
    const route = (name: string, created: string, rules: HTTPRouteRule[]): HTTPRoute => ({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name, namespace: "ns", creationTimestamp: created },
      spec: { rules },
    });
    const to = [{ name: "svc", port: 80 }];
    const routes = attachedRoutes(
      [
        {
          kind: "HTTPRoute",
          route: route("new", "2024-02-01T00:00:00Z", [
            { matches: [{ path: { type: "PathPrefix", value: "/a" } }], backendRefs: to },
          ]),
        },
        {
          kind: "HTTPRoute",
          route: route("old", "2024-01-01T00:00:00Z", [
            { matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: to },
            {
              matches: [
                { path: { type: "PathPrefix", value: "/a" } },
                { path: { type: "Exact", value: "/a/b" } },
              ],
              backendRefs: to,
            },
            {
              matches: [{ path: { type: "PathPrefix", value: "/a/" }, method: "POST" }],
              backendRefs: to,
            },
          ]),
        },
      ],
      () => "outbound|80||svc",
      () => {},
    );
    assert.deepEqual(
      routes.map((r) => `${r.name} ${JSON.stringify(r.match)}`),
      [
        'ns.old.1.1 {"path":"/a/b"}',
        'ns.old.2.0 {"path":"/a","headers":[{"name":":method","string_match":{"exact":"POST"}}]}',
        'ns.old.2.0 {"prefix":"/a/","headers":[{"name":":method","string_match":{"exact":"POST"}}]}',
        'ns.old.1.0 {"path":"/a"}',
        'ns.old.1.0 {"prefix":"/a/"}',
        'ns.new.0.0 {"path":"/a"}',
        'ns.new.0.0 {"prefix":"/a/"}',
        'ns.old.0.0 {"prefix":"/"}',
      ],
    );
  });

  it("PathPrefix ignores a trailing slash and never emits path_separated_prefix", () => {
    assert.deepEqual(convertHttpMatch({ path: { type: "PathPrefix", value: "/x/" } }).envoy, [
      { path: "/x" },
      { prefix: "/x/" },
    ]);
    assert.deepEqual(convertHttpMatch({ path: { type: "PathPrefix", value: "/" } }).envoy, [
      { prefix: "/" },
    ]);
  });
});

describe("route actions: weights, invalid backends, retries, timeouts", () => {
  const http = (rule: HTTPRouteRule) =>
    routeAction(
      {
        kind: "HTTPRoute",
        route: {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "HTTPRoute",
          metadata: { name: "r", namespace: "ns" },
          spec: { rules: [rule] },
        },
      },
      rule,
      (ref) => (ref.name === "missing" ? undefined : `outbound|${ref.port}||${ref.name}`),
      () => {},
    );
  const ref = (name: string, weight?: number) => ({ name, port: 80, weight });
  const cases: [string, HTTPRouteRule, Record<string, unknown>][] = [
    ["one backend → cluster", { backendRefs: [ref("a")] }, { cluster: "outbound|80||a" }],
    [
      "weights → weighted_clusters, weight 0 dropped",
      { backendRefs: [ref("a", 3), ref("b", 1), ref("c", 0)] },
      {
        weighted_clusters: {
          clusters: [
            { name: "outbound|80||a", weight: { value: 3 } },
            { name: "outbound|80||b", weight: { value: 1 } },
          ],
        },
      },
    ],
    [
      "only one positive weight → cluster",
      { backendRefs: [ref("a", 0), ref("b", 2)] },
      { cluster: "outbound|80||b" },
    ],
    [
      "all weights 0 → 500",
      { backendRefs: [ref("a", 0)] },
      {
        cluster: "InvalidBackendCluster",
        cluster_not_found_response_code: Enum.INTERNAL_SERVER_ERROR,
      },
    ],
    [
      "no backendRefs → 500",
      {},
      {
        cluster: "InvalidBackendCluster",
        cluster_not_found_response_code: Enum.INTERNAL_SERVER_ERROR,
      },
    ],
    [
      "a missing backend keeps its share, answered with 500",
      { backendRefs: [ref("a", 1), ref("missing", 1)] },
      {
        weighted_clusters: {
          clusters: [
            { name: "outbound|80||a", weight: { value: 1 } },
            { name: "InvalidBackendCluster", weight: { value: 1 } },
          ],
        },
        cluster_not_found_response_code: Enum.INTERNAL_SERVER_ERROR,
      },
    ],
    [
      "duplicate backends merge",
      { backendRefs: [ref("a", 1), ref("a", 2)] },
      { cluster: "outbound|80||a" },
    ],
  ];
  for (const [name, rule, want] of cases) {
    it(name, () => {
      const action = http(rule);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(action[k], v, k);
      if (!("cluster_not_found_response_code" in want))
        assert.equal(action.cluster_not_found_response_code, undefined);
    });
  }

  it("no retry stanza → no retry policy, and no timeout (0s)", () => {
    const a = http({ backendRefs: [ref("a")] });
    assert.equal(a.retry_policy, undefined);
    assert.deepEqual(a.timeout, { seconds: 0 });
    assert.equal(a.max_stream_duration, undefined);
  });
  it("retry → Envoy retry policy with 10× max backoff; backendRequest → per_try_timeout", () => {
    const a = http({
      backendRefs: [ref("a")],
      retry: { attempts: 2, backoff: "250ms" },
      timeouts: { request: "3s", backendRequest: "1s" },
    });
    assert.deepEqual(a.retry_policy, {
      retry_on: "retriable-status-codes,connect-failure,refused-stream,reset",
      num_retries: { value: 2 },
      retriable_status_codes: [500, 502, 503, 504],
      retry_back_off: {
        base_interval: { seconds: 0, nanos: 250_000_000 },
        max_interval: { seconds: 2, nanos: 500_000_000 },
      },
      per_try_timeout: { seconds: 1 },
    });
    assert.deepEqual(a.timeout, { seconds: 3 });
    assert.deepEqual(a.max_stream_duration, { max_stream_duration: { seconds: 3 } });
  });
  it("attempts 0 → no retries (gRPC would NACK num_retries 0)", () => {
    assert.equal(http({ backendRefs: [ref("a")], retry: { attempts: 0 } }).retry_policy, undefined);
  });
  it("backendRequest without retries caps the route timeout", () => {
    assert.deepEqual(
      http({ backendRefs: [ref("a")], timeouts: { request: "10s", backendRequest: "2s" } }).timeout,
      { seconds: 2 },
    );
    assert.deepEqual(
      http({ backendRefs: [ref("a")], timeouts: { backendRequest: "1500ms" } }).timeout,
      { seconds: 1, nanos: 500_000_000 },
    );
  });
  it("gRPC retry codes → Envoy's gRPC retry_on names; others dropped", () => {
    assert.deepEqual(grpcRetryOn(undefined), ["unavailable"]);
    assert.deepEqual(grpcRetryOn(["UNAVAILABLE", 4, "cancelled", 8, 13]), [
      "cancelled",
      "deadline-exceeded",
      "internal",
      "resource-exhausted",
      "unavailable",
    ]);
    assert.deepEqual(grpcRetryOn(["UNKNOWN", 10]), []);
  });
});

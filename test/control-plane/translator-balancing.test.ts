// The balancing annotations of a Service, translated: trellis.dev/hash-on (with
// trellis.dev/lb-policy RING_HASH) becomes the hash_policy of the HTTP routes to its
// clusters and of its TCP chains' tcp_proxy; trellis.dev/circuit-breaker becomes its
// clusters' circuit_breakers. Each as the proxy decodes it, losslessly encoded, accepted
// by grpc-js-xds, and a value the translator cannot read a warning that changes nothing.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { XdsMessage } from "../../api/xds-proto.js";
import { compileMesh, snapshotFor } from "../../control-plane/translator/index.js";
import type { Snapshot } from "../../control-plane/xds/types.js";
import { annotatedModel, OPTIONS, proxylessNode, sidecarNode } from "./translator-fixture.js";
import { assertEncodes, decodedSnapshot, grpcValidationErrors } from "./translator-helpers.js";

const BACKEND = "backend.shop.svc.cluster.local";
const BACKEND_HTTP = `outbound|80||${BACKEND}`;
const BACKEND_GRPC = `outbound|9090||${BACKEND}`;
const DB_CHAIN = "outbound|5432||db.data.svc.cluster.local";
const RING_HASH = { "trellis.dev/lb-policy": "RING_HASH" };

const compile = (annotations: Record<string, Record<string, string>>) =>
  compileMesh(annotatedModel(annotations), OPTIONS);
const sidecar = (c: ReturnType<typeof compile>) =>
  snapshotFor(c, sidecarNode("shop", "frontend-1"));
const proxyless = (c: ReturnType<typeof compile>) => snapshotFor(c, proxylessNode("shop"));

/** The decoded routes of a route configuration: [name, cluster(s), hash_policy]. */
function routesOf(s: Snapshot, rc: string): { name: string; to: string; hash: unknown }[] {
  const decoded = decodedSnapshot(s).RouteConfiguration as Record<string, XdsMessage>;
  const vhosts = (decoded[rc]?.virtual_hosts ?? []) as XdsMessage[];
  return ((vhosts[0]?.routes ?? []) as XdsMessage[]).map((r) => {
    const action = r.route as XdsMessage;
    const weighted = (action.weighted_clusters as XdsMessage | undefined)?.clusters as
      | XdsMessage[]
      | undefined;
    return {
      name: String(r.name),
      to: weighted ? weighted.map((w) => w.name).join("+") : String(action.cluster),
      hash: action.hash_policy,
    };
  });
}

/** The decoded tcp_proxy of one outbound chain. */
function tcpProxyOf(s: Snapshot, chain: string): XdsMessage | undefined {
  const listeners = decodedSnapshot(s).Listener as Record<string, XdsMessage>;
  const chains = (listeners.virtualOutbound?.filter_chains ?? []) as XdsMessage[];
  const filters = (chains.find((c) => c.name === chain)?.filters ?? []) as XdsMessage[];
  return filters[0]?.typed_config as XdsMessage | undefined;
}

/** Every resource of a snapshot, as one JSON text. */
const everything = (s: Snapshot) =>
  JSON.stringify([...s.resources.values()].flatMap((m) => [...m.values()]));

const annotationWarnings = (c: ReturnType<typeof compile>) =>
  c.warnings.filter((w) => w.code === "UNSUPPORTED_ANNOTATION");

describe("trellis.dev/hash-on: ring hash on a header or the source IP", () => {
  it("header:NAME → the Service's clusters RING_HASH, routes to them hash the header (lower-cased)", () => {
    const c = compile({ backend: { ...RING_HASH, "trellis.dev/hash-on": "header:X-User" } });
    assert.deepEqual(annotationWarnings(c), []);
    const s = sidecar(c);
    const header = [{ header: { header_name: "x-user" } }];
    // The HTTPRoute's rules in precedence order: /healthz to backend; the rule whose backend
    // does not resolve (no Service, so no hash policy); the 90/10 split (its first cluster is
    // backend's) as the two halves of its PathPrefix.
    const split = `${BACKEND_HTTP}+outbound|80||backend-v2.shop.svc.cluster.local`;
    assert.deepEqual(
      routesOf(s, `${BACKEND}:80`).map((r) => [r.to, r.hash]),
      [
        [BACKEND_HTTP, header],
        ["InvalidBackendCluster", undefined],
        [split, header],
        [split, header],
      ],
    );
    for (const r of routesOf(s, `${BACKEND}:9090`)) assert.deepEqual(r.hash, header, r.name);
    assert.deepEqual(
      routesOf(s, "backend-v2.shop.svc.cluster.local:80").map((r) => r.hash),
      [undefined],
      "another Service's default route is untouched",
    );
    const clusters = decodedSnapshot(s).Cluster as Record<string, XdsMessage>;
    assert.equal(clusters[BACKEND_HTTP]?.lb_policy, "RING_HASH");
    assert.equal(clusters[BACKEND_GRPC]?.lb_policy, "RING_HASH");
    assert.equal(
      clusters["outbound|80||frontend.shop.svc.cluster.local"]?.lb_policy,
      "ROUND_ROBIN",
    );
    assertEncodes(s);
    // Proxyless gRPC clients get the same routes, and grpc-js-xds accepts ring hash.
    assert.deepEqual(grpcValidationErrors(proxyless(c)), []);
    assert.deepEqual(routesOf(proxyless(c), `${BACKEND}:9090`)[0]?.hash, header);
  });

  it("source-ip → connection_properties on HTTP routes, tcp_proxy's source_ip on TCP chains", () => {
    const c = compile({
      backend: { ...RING_HASH, "trellis.dev/hash-on": "source-ip" },
      db: { ...RING_HASH, "trellis.dev/hash-on": "source-ip" },
    });
    assert.deepEqual(annotationWarnings(c), []);
    const s = sidecar(c);
    assert.deepEqual(routesOf(s, `${BACKEND}:80`)[0]?.hash, [
      { connection_properties: { source_ip: true } },
    ]);
    assert.deepEqual(tcpProxyOf(s, DB_CHAIN)?.hash_policy, [{ source_ip: {} }]);
    assert.equal(tcpProxyOf(s, DB_CHAIN)?.cluster, DB_CHAIN);
    assertEncodes(s);
    assert.deepEqual(grpcValidationErrors(proxyless(c)), []);
  });

  it("warns about a value it cannot use, and gives no hash policy (a random point)", () => {
    for (const [annotations, problem] of [
      [
        { ...RING_HASH, "trellis.dev/hash-on": "cookie:session" },
        /is not header:NAME or source-ip/,
      ],
      [{ ...RING_HASH, "trellis.dev/hash-on": "header:" }, /"" is not an HTTP header name/],
      [{ ...RING_HASH, "trellis.dev/hash-on": "header:x user" }, /"x user" is not an HTTP header/],
      [{ "trellis.dev/hash-on": "header:x-user" }, /needs trellis.dev\/lb-policy: RING_HASH/],
      [
        { "trellis.dev/lb-policy": "LEAST_REQUEST", "trellis.dev/hash-on": "source-ip" },
        /the policy is LEAST_REQUEST/,
      ],
    ] as const) {
      const c = compile({ backend: annotations });
      const warnings = annotationWarnings(c);
      assert.equal(warnings.length, 1, JSON.stringify(annotations));
      assert.equal(warnings[0]?.resource, "Service/shop/backend");
      assert.match(warnings[0]?.message ?? "", problem);
      assert.match(warnings[0]?.message ?? "", /^trellis\.dev\/hash-on: .*; no hash policy$/);
      assert.doesNotMatch(everything(sidecar(c)), /hash_policy/);
      assert.equal(
        (decodedSnapshot(sidecar(c)).Cluster as Record<string, XdsMessage>)[BACKEND_HTTP]
          ?.lb_policy,
        annotations["trellis.dev/lb-policy"] ?? "ROUND_ROBIN",
        "the lb-policy annotation still holds",
      );
    }
  });

  it("a header policy on a TCP port: a warning, and a tcp_proxy without hash policy", () => {
    const c = compile({ db: { ...RING_HASH, "trellis.dev/hash-on": "header:x-user" } });
    const warnings = annotationWarnings(c);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.resource, "Service/data/db");
    assert.match(warnings[0]?.message ?? "", /no headers to hash, so port 5432's ring hash/);
    const proxy = tcpProxyOf(sidecar(c), DB_CHAIN);
    assert.equal(proxy?.cluster, DB_CHAIN);
    assert.equal(proxy?.hash_policy, undefined);
  });
});

describe("trellis.dev/circuit-breaker: Envoy's thresholds at the DEFAULT priority", () => {
  const breakersOf = (s: Snapshot, cluster: string) =>
    (decodedSnapshot(s).Cluster as Record<string, XdsMessage>)[cluster]?.circuit_breakers;

  it("gives the Service's clusters, sidecar and proxyless, the limits it names", () => {
    const c = compile({
      backend: {
        "trellis.dev/circuit-breaker": "maxConnections=100, maxPendingRequests=10, maxRequests=50",
      },
    });
    assert.deepEqual(annotationWarnings(c), []);
    const want = {
      thresholds: [
        {
          priority: "DEFAULT",
          max_connections: { value: 100 },
          max_pending_requests: { value: 10 },
          max_requests: { value: 50 },
        },
      ],
    };
    for (const s of [sidecar(c), proxyless(c)]) {
      assert.deepEqual(breakersOf(s, BACKEND_HTTP), want);
      assert.deepEqual(breakersOf(s, BACKEND_GRPC), want);
      assert.equal(breakersOf(s, "outbound|80||frontend.shop.svc.cluster.local"), undefined);
    }
    assertEncodes(sidecar(c));
    assert.deepEqual(grpcValidationErrors(proxyless(c)), []);
  });

  it("takes Istio's names too, and leaves out what is not named (Envoy's 1024)", () => {
    const c = compile({
      backend: { "trellis.dev/circuit-breaker": "http1MaxPendingRequests=5,http2MaxRequests=7" },
    });
    assert.deepEqual(breakersOf(sidecar(c), BACKEND_HTTP), {
      thresholds: [
        { priority: "DEFAULT", max_pending_requests: { value: 5 }, max_requests: { value: 7 } },
      ],
    });
  });

  it("warns about a value it cannot read, and gives none", () => {
    for (const [value, problem] of [
      ["maxConnections=0", /maxConnections: "0" is not a whole number ≥ 1/],
      ["maxConnections=many", /maxConnections: "many" is not a whole number/],
      ["maxConnections", /maxConnections: "" is not a whole number/],
      [
        "maxRetries=3",
        /"maxRetries" is not one of maxConnections, maxPendingRequests, maxRequests/,
      ],
    ] as const) {
      const c = compile({ backend: { "trellis.dev/circuit-breaker": value } });
      const warnings = annotationWarnings(c);
      assert.equal(warnings.length, 1, value);
      assert.equal(warnings[0]?.resource, "Service/shop/backend");
      assert.match(warnings[0]?.message ?? "", problem);
      assert.match(warnings[0]?.message ?? "", /; Envoy's default thresholds$/);
      assert.equal(breakersOf(sidecar(c), BACKEND_HTTP), undefined, value);
    }
  });
});

// compileMesh/snapshotFor behaviour beyond the golden fixture: consumer routes, headless
// Services, proxies whose pod is unknown, skipped Services and ports, endpoint edge cases,
// dual-stack ClusterIPs, inbound ports from Services, and the warnings.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EndpointSlice, HTTPRoute } from "../../api/types.js";
import { TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import {
  checkSnapshot,
  compileMesh,
  type MeshModel,
  snapshotFor,
} from "../../control-plane/translator/index.js";
import type { Snapshot } from "../../control-plane/xds/types.js";
import {
  annotatedModel,
  fixtureModel,
  OPTIONS,
  peerAuthentication,
  pod,
  proxylessNode,
  service,
  sidecarNode,
  slice,
} from "./translator-fixture.js";
import { assertEncodes } from "./translator-helpers.js";

const get = (s: Snapshot, t: TypeUrl, name: string) =>
  s.resources.get(t)?.get(name) as XdsMessage | undefined;
const json = (v: unknown) => JSON.stringify(v);
const chains = (l: XdsMessage | undefined) => (l?.filter_chains ?? []) as XdsMessage[];
const BACKEND_RC = "backend.shop.svc.cluster.local:80";

function consumerRoute(): HTTPRoute {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "to-v2", namespace: "data" },
    spec: {
      parentRefs: [{ group: "", kind: "Service", name: "backend", namespace: "shop" }],
      rules: [{ backendRefs: [{ name: "backend-v2", namespace: "shop", port: 80 }] }],
    },
  };
}

describe("routes by namespace (GAMMA consumer routes)", () => {
  const model = fixtureModel();
  const compiled = compileMesh(
    { ...model, httpRoutes: [...model.httpRoutes, consumerRoute()] },
    OPTIONS,
  );
  it("apply to proxies in the consumer's namespace only, sidecar and proxyless alike", () => {
    const inData = snapshotFor(compiled, sidecarNode("data", "db-0"));
    const inShop = snapshotFor(compiled, sidecarNode("shop", "backend-1"));
    const proxylessInData = snapshotFor(compiled, proxylessNode("data"));
    const rc = get(inData, TypeUrl.RouteConfiguration, BACKEND_RC);
    assert.match(json(rc), /"cluster":"outbound\|80\|\|backend-v2\.shop\.svc\.cluster\.local"/);
    assert.doesNotMatch(json(rc), /backend-split/, "consumer routes replace producer routes");
    assert.match(json(get(inShop, TypeUrl.RouteConfiguration, BACKEND_RC)), /backend-split/);
    assert.equal(get(proxylessInData, TypeUrl.RouteConfiguration, BACKEND_RC), rc);
    assert.deepEqual(checkSnapshot(inData), []);
    assertEncodes(inData);
    const other = "frontend.shop.svc.cluster.local:80";
    assert.equal(
      get(inData, TypeUrl.RouteConfiguration, other),
      get(inShop, TypeUrl.RouteConfiguration, other),
    );
    assert.notEqual(
      inData.version,
      snapshotFor(compileMesh(model, OPTIONS), sidecarNode("data", "db-0")).version,
    );
  });
});

describe("headless Services", () => {
  const headless = service("shop", "cache", "None", [{ name: "tcp-redis", port: 6379 }]);
  const cachePod = pod("shop", "cache-0", {
    labels: { app: "cache" },
    ip: "10.244.3.3",
    ports: [{ containerPort: 6379 }],
  });
  const model: MeshModel = {
    ...fixtureModel(),
    services: [...fixtureModel().services, headless],
    pods: [...fixtureModel().pods, cachePod],
    endpointSlices: [
      ...fixtureModel().endpointSlices,
      slice(headless, [{ name: "tcp-redis", port: 6379 }], [{ pod: cachePod }]),
    ],
  };
  it("ALLOW_ANY: no chain (passes through); the cluster and assignment still exist", () => {
    const s = snapshotFor(compileMesh(model, OPTIONS), sidecarNode("shop", "backend-1"));
    assert.doesNotMatch(json(get(s, TypeUrl.Listener, "virtualOutbound")), /10\.244\.3\.3/);
    assert.ok(get(s, TypeUrl.Cluster, "outbound|6379||cache.shop.svc.cluster.local"));
  });
  it("REGISTRY_ONLY: each endpoint IP:port passes through; the rest goes to BlackHoleCluster", () => {
    const s = snapshotFor(
      compileMesh(model, { ...OPTIONS, outboundTrafficPolicy: "REGISTRY_ONLY" }),
      sidecarNode("shop", "backend-1"),
    );
    const l = get(s, TypeUrl.Listener, "virtualOutbound");
    const chain = chains(l).find((c) => json(c).includes("10.244.3.3"));
    assert.match(
      json(chain),
      /"destination_port":\{"value":6379\}.*"cluster":"PassthroughCluster"/,
    );
    assert.match(json(l?.default_filter_chain), /BlackHoleCluster/);
    assert.deepEqual(checkSnapshot(s), []);
    assertEncodes(s);
  });
});

describe("proxies whose pod the model lacks", () => {
  const compiled = compileMesh(fixtureModel(), OPTIONS);
  it("PERMISSIVE: no port chains, unknown ports pass through", () => {
    const s = snapshotFor(compiled, sidecarNode("shop", "not-yet-stored"));
    const inbound = get(s, TypeUrl.Listener, "virtualInbound");
    assert.deepEqual(chains(inbound), []);
    assert.match(json(inbound?.default_filter_chain), /InboundPassthroughCluster/);
    assert.equal(
      [...(s.resources.get(TypeUrl.Cluster)?.keys() ?? [])].some((n) => n.startsWith("inbound|")),
      false,
    );
    assert.deepEqual(checkSnapshot(s), []);
    assertEncodes(s);
  });
  it("STRICT: connections are closed (BlackHole, since a listener needs a chain)", () => {
    const inbound = get(
      snapshotFor(compiled, sidecarNode("data", "db-9")),
      TypeUrl.Listener,
      "virtualInbound",
    );
    assert.match(json(inbound?.default_filter_chain), /BlackHoleCluster/);
  });
  it("a workload-selector PeerAuthentication still applies through the node's labels", () => {
    const model = fixtureModel();
    const pa = peerAuthentication("shop", "web-strict", {
      selector: { matchLabels: { app: "web" } },
      mtls: { mode: "STRICT" },
    });
    const c = compileMesh(
      { ...model, peerAuthentications: [...model.peerAuthentications, pa] },
      OPTIONS,
    );
    const inbound = get(
      snapshotFor(c, sidecarNode("shop", "web-1", { labels: { app: "web" } })),
      TypeUrl.Listener,
      "virtualInbound",
    );
    assert.match(json(inbound?.default_filter_chain), /BlackHoleCluster/);
  });
});

describe("what is not meshed", () => {
  it("ExternalName Services and UDP ports get nothing", () => {
    const ext = {
      ...service("shop", "ext", "", [{ name: "http", port: 80 }]),
      spec: { type: "ExternalName" as const, ports: [{ name: "http", port: 80 }] },
    };
    const dns = service("shop", "dns", "10.96.0.53", [
      { name: "dns", port: 53, protocol: "UDP" },
      { name: "dns-tcp", port: 53 },
    ]);
    const model = fixtureModel();
    const c = compileMesh({ ...model, services: [...model.services, ext, dns] }, OPTIONS);
    const names = [...c.shared.sidecarClusters.keys()];
    assert.equal(
      names.some((n) => n.includes("ext.shop")),
      false,
    );
    assert.deepEqual(
      names.filter((n) => n.includes("dns.shop")),
      ["outbound|53||dns.shop.svc.cluster.local"],
    );
  });
});

describe("endpoints", () => {
  const svc = service("shop", "api", "10.96.9.9", [{ name: "http", port: 80, targetPort: 8080 }]);
  const p = (name: string, ip: string) =>
    pod("shop", name, { labels: { app: "api" }, ip, node: "n1" });
  const a = p("a", "10.0.0.1");
  const b = p("b", "10.0.0.2");
  const c = p("c", "10.0.0.3");
  const cla = (slices: EndpointSlice[]) =>
    compileMesh(
      {
        ...fixtureModel(),
        services: [svc],
        pods: [a, b, c],
        endpointSlices: slices,
        httpRoutes: [],
        grpcRoutes: [],
      },
      OPTIONS,
    ).shared.loadAssignments.get("outbound|80||api.shop.svc.cluster.local");
  const addresses = (m: XdsMessage | undefined) =>
    ((m?.endpoints ?? []) as XdsMessage[]).flatMap((l) =>
      (l.lb_endpoints as XdsMessage[]).map(
        (e) =>
          `${json((e.endpoint as XdsMessage).address).match(/"address":"([^"]+)"/)?.[1]} ${e.health_status}`,
      ),
    );
  it("no endpoints → an empty assignment", () =>
    assert.deepEqual(cla([]), {
      cluster_name: "outbound|80||api.shop.svc.cluster.local",
      endpoints: [],
    }));
  it("not serving → left out; serving but not ready → DRAINING; one address listed once, ready winning", () => {
    const s1 = slice(
      svc,
      [{ name: "http", port: 8080 }],
      [
        { pod: a, ready: false },
        { pod: b, ready: false, serving: false },
      ],
    );
    const s2 = {
      ...slice(svc, [{ name: "http", port: 8080 }], [{ pod: a }, { pod: c, ready: false }]),
      metadata: { ...s1.metadata, name: "api-2" },
    };
    assert.deepEqual(addresses(cla([s1, s2])), ["10.0.0.1 1", "10.0.0.3 3"]);
  });
  it("a slice without the Service port's name, or of FQDNs, contributes nothing", () => {
    const wrongPort = slice(svc, [{ name: "other", port: 8080 }], [{ pod: a }]);
    const fqdn: EndpointSlice = {
      ...slice(svc, [{ name: "http", port: 8080 }], [{ pod: b }]),
      addressType: "FQDN",
    };
    assert.deepEqual(addresses(cla([wrongPort, fqdn])), []);
  });
});

describe("outbound chains", () => {
  it("dual-stack ClusterIPs share one chain; IPv6 is a /128", () => {
    const svc = service("shop", "dual", "10.96.7.7", [{ name: "tcp", port: 7000 }]);
    svc.spec.clusterIPs = ["10.96.7.7", "fd00::7"];
    const c = compileMesh({ ...fixtureModel(), services: [svc] }, OPTIONS);
    const chain = chains(c.shared.outboundListener).find(
      (x) => x.name === "outbound|7000||dual.shop.svc.cluster.local",
    );
    assert.deepEqual((chain?.filter_chain_match as XdsMessage | undefined)?.prefix_ranges, [
      { address_prefix: "10.96.7.7", prefix_len: { value: 32 } },
      { address_prefix: "fd00::7", prefix_len: { value: 128 } },
    ]);
  });
  it("two Services on one ClusterIP:port keep the first and warn", () => {
    const one = service("shop", "one", "10.96.8.8", [{ name: "tcp", port: 1 }]);
    const two = service("shop", "two", "10.96.8.8", [{ name: "tcp", port: 1 }]);
    const c = compileMesh(
      { ...fixtureModel(), services: [one, two], httpRoutes: [], grpcRoutes: [] },
      OPTIONS,
    );
    assert.deepEqual(
      chains(c.shared.outboundListener).map((x) => x.name),
      ["outbound|1||one.shop.svc.cluster.local"],
    );
    assert.deepEqual(
      c.warnings.map((w) => `${w.code} ${w.resource}`),
      ["DUPLICATE_LISTENER_MATCH Service/shop/two"],
    );
  });
});

describe("inbound ports", () => {
  it("come from container ports and Service targetPorts; the sidecar's own ports are left out", () => {
    const svc = service(
      "shop",
      "odd",
      "10.96.6.6",
      [{ name: "grpc", port: 80, targetPort: 7070 }],
      { app: "odd" },
    );
    const oddPod = pod("shop", "odd-1", {
      labels: { app: "odd" },
      ip: "10.0.6.6",
      ports: [{ containerPort: 8080 }, { containerPort: 15090 }],
    });
    const c = compileMesh({ ...fixtureModel(), services: [svc], pods: [oddPod] }, OPTIONS);
    const s = snapshotFor(c, sidecarNode("shop", "odd-1"));
    const names = chains(get(s, TypeUrl.Listener, "virtualInbound")).map((x) => x.name);
    assert.deepEqual(names, [
      "inbound|7070||tls",
      "inbound|7070||plaintext",
      "inbound|8080||tls",
      "inbound|8080||plaintext",
    ]);
    assert.match(json(get(s, TypeUrl.Cluster, "inbound|7070||")), /http2_protocol_options/);
    assert.doesNotMatch(json(get(s, TypeUrl.Cluster, "inbound|8080||")), /http2_protocol_options/);
  });
});

describe("warnings", () => {
  it("name routes whose parent Service is missing or whose port is not HTTP-like", () => {
    const model = fixtureModel();
    const route = (name: string, parent: string, port?: number): HTTPRoute => ({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name, namespace: "shop" },
      spec: {
        parentRefs: [
          {
            group: "",
            kind: "Service",
            name: parent,
            namespace: parent === "db" ? "data" : "shop",
            port,
          },
        ],
      },
    });
    const c = compileMesh(
      { ...model, httpRoutes: [route("a", "nope"), route("b", "db", 5432)] },
      OPTIONS,
    );
    assert.deepEqual(
      c.warnings.map((w) => `${w.code} ${w.resource}`),
      ["ROUTE_PARENT_NOT_FOUND HTTPRoute/shop/a", "ROUTE_PORT_NOT_HTTP HTTPRoute/shop/b"],
    );
  });
  it("name AuthorizationPolicy conditions Trellis cannot enforce", () => {
    const model = fixtureModel();
    const policy = {
      ...model.authorizationPolicies[0],
      spec: { rules: [{ when: [{ key: "source.ip", values: ["1.2.3.4"] }] }] },
    } as MeshModel["authorizationPolicies"][number];
    const c = compileMesh({ ...model, authorizationPolicies: [policy] }, OPTIONS);
    assert.deepEqual(
      c.warnings.map((w) => w.code),
      ["BACKEND_NOT_FOUND", "AUTHZ_UNSUPPORTED_CONDITION"],
    );
  });
});

/** The fixture mesh with one annotation on the backend Service. */
function compileWithBackendAnnotation(name: string, value: string) {
  return compileMesh(annotatedModel({ backend: { [name]: value } }), OPTIONS);
}

describe("the trellis.dev/lb-policy annotation", () => {
  const CLUSTER = "outbound|80||backend.shop.svc.cluster.local";
  const withPolicy = (value: string) =>
    compileWithBackendAnnotation("trellis.dev/lb-policy", value);

  it("sets the lb_policy of the Service's clusters, for sidecars and proxyless clients", () => {
    const compiled = withPolicy("LEAST_REQUEST");
    for (const node of [sidecarNode("shop", "frontend-1"), proxylessNode("shop")]) {
      const cluster = get(snapshotFor(compiled, node), TypeUrl.Cluster, CLUSTER);
      assert.equal(cluster?.lb_policy, 1, `${node.kind}: LEAST_REQUEST is enum 1`);
    }
    assert.equal(
      get(
        snapshotFor(compileMesh(fixtureModel(), OPTIONS), proxylessNode("shop")),
        TypeUrl.Cluster,
        CLUSTER,
      )?.lb_policy,
      0,
      "ROUND_ROBIN without the annotation",
    );
  });

  it("warns about a policy it does not know and uses ROUND_ROBIN", () => {
    const compiled = withPolicy("MAGLEV");
    const cluster = get(snapshotFor(compiled, proxylessNode("shop")), TypeUrl.Cluster, CLUSTER);
    assert.equal(cluster?.lb_policy, 0);
    assert.ok(
      compiled.warnings.some(
        (w) => w.code === "UNSUPPORTED_ANNOTATION" && w.resource === "Service/shop/backend",
      ),
    );
  });
});

describe("compiling again with the previous compile", () => {
  const model = fixtureModel();
  const first = compileMesh(model, OPTIONS);
  const types = (s: Snapshot) => [...s.resources.values()];
  const node = sidecarNode("shop", "frontend-7d4f9");

  it("keeps every map and message of an unchanged model, and its versions", () => {
    const again = compileMesh(fixtureModel(), OPTIONS, first);
    assert.equal(again.digest, first.digest);
    for (const key of Object.keys(first.shared) as (keyof typeof first.shared)[]) {
      assert.equal(again.shared[key], first.shared[key], `shared.${key} is the same object`);
    }
    const before = snapshotFor(first, node);
    const after = snapshotFor(again, node);
    assert.equal(after.version, before.version);
    types(after).forEach((map, i) => {
      assert.equal(map, types(before)[i], "the sidecar's own maps are kept too");
    });
  });

  it("makes new objects only for what changed: one endpoint, one assignment", () => {
    const moved = structuredClone(model.endpointSlices[0]) as EndpointSlice;
    const first0 = moved.endpoints[0];
    assert.ok(first0);
    first0.addresses = ["10.244.9.9"];
    const changed = compileMesh(
      { ...model, endpointSlices: [moved, ...model.endpointSlices.slice(1)] },
      OPTIONS,
      first,
    );
    assert.notEqual(changed.digest, first.digest);
    assert.equal(changed.shared.sidecarClusters, first.shared.sidecarClusters);
    assert.equal(changed.shared.routes, first.shared.routes);
    assert.equal(changed.shared.outboundListener, first.shared.outboundListener);
    const eds = changed.shared.loadAssignments;
    assert.notEqual(eds, first.shared.loadAssignments);
    const differing = [...eds].filter(([name, m]) => first.shared.loadAssignments.get(name) !== m);
    assert.deepEqual(
      differing.map(([name]) => name),
      ["outbound|80||frontend.shop.svc.cluster.local"],
    );
    assert.match(json(differing[0]?.[1]), /10\.244\.9\.9/);
    assert.notEqual(snapshotFor(changed, node).version, snapshotFor(first, node).version);
  });
});

describe("trellis.dev/outlier-detection", () => {
  const CLUSTER = "outbound|80||backend.shop.svc.cluster.local";
  const annotated = (value: string) =>
    compileWithBackendAnnotation("trellis.dev/outlier-detection", value);

  it("gives the Service's sidecar clusters Envoy's outlier_detection; proxyless none", () => {
    const compiled = annotated("consecutive5xx=3, baseEjectionTime=15s, maxEjectionPercent=50");
    const sidecar = snapshotFor(compiled, sidecarNode("shop", "frontend-1"));
    assert.deepEqual(get(sidecar, TypeUrl.Cluster, CLUSTER)?.outlier_detection, {
      consecutive_5xx: { value: 3 },
      base_ejection_time: { seconds: 15 },
      max_ejection_percent: { value: 50 },
    });
    assertEncodes(sidecar);
    const proxyless = snapshotFor(compiled, proxylessNode("shop"));
    assert.equal(get(proxyless, TypeUrl.Cluster, CLUSTER)?.outlier_detection, undefined);
    assert.ok(!compiled.warnings.some((w) => w.code === "UNSUPPORTED_ANNOTATION"));
  });

  it("warns about a value it cannot read, and gives none", () => {
    for (const [value, problem] of [
      ["consecutive5xx=zero", /consecutive5xx: "zero" is not a whole number/],
      ["splitExternalLocalOriginErrors=true", /is not one of consecutive5xx/],
      ["baseEjectionTime=soon", /not a duration/],
    ] as const) {
      const compiled = annotated(value);
      const cluster = get(
        snapshotFor(compiled, sidecarNode("shop", "frontend-1")),
        TypeUrl.Cluster,
        CLUSTER,
      );
      assert.equal(cluster?.outlier_detection, undefined, value);
      assert.ok(
        compiled.warnings.some(
          (w) => w.code === "UNSUPPORTED_ANNOTATION" && problem.test(w.message),
        ),
        value,
      );
    }
  });
});

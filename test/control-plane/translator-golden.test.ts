// The fixture mesh's snapshots for a sidecar (backend: HTTP + gRPC, PERMISSIVE, ALLOW
// policy), a sidecar under STRICT (db: TCP, DENY + ALLOW) and a proxyless gRPC client,
// against golden files as the proxy decodes them (UPDATE_GOLDEN=1 rewrites them); every
// resource encodes with the real protos without losing a field; grpc-js-xds accepts every
// proxyless resource; the snapshots pass checkSnapshot; shared objects are shared.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TypeUrl } from "../../api/xds-proto.js";
import { checkSnapshot, compileMesh, snapshotFor } from "../../control-plane/translator/index.js";
import { fixtureModel, OPTIONS, proxylessNode, sidecarNode } from "./translator-fixture.js";
import {
  assertEncodes,
  assertGolden,
  decodedSnapshot,
  grpcValidationErrors,
} from "./translator-helpers.js";

const compiled = compileMesh(fixtureModel(), OPTIONS);
const nodes = {
  "sidecar-backend": sidecarNode("shop", "backend-1"),
  "sidecar-db": sidecarNode("data", "db-0"),
  proxyless: proxylessNode("shop"),
};

describe("translator golden snapshots", () => {
  for (const [name, node] of Object.entries(nodes)) {
    const snapshot = snapshotFor(compiled, node);
    it(`${name}: matches its golden file`, () => {
      assertGolden(`${name}.json`, `${JSON.stringify(decodedSnapshot(snapshot), null, 2)}\n`);
    });
    it(`${name}: every resource encodes without losing a field`, () => {
      assert.ok(assertEncodes(snapshot) > 5);
    });
    it(`${name}: is consistent (checkSnapshot finds nothing)`, () => {
      assert.deepEqual(checkSnapshot(snapshot), []);
    });
  }

  it("proxyless: grpc-js-xds validates every Listener, RouteConfiguration, Cluster and assignment", () => {
    assert.deepEqual(grpcValidationErrors(snapshotFor(compiled, nodes.proxyless)), []);
  });

  it("reports the fixture's invalid backendRefs as warnings", () => {
    assert.deepEqual(
      compiled.warnings.map((w) => `${w.code} ${w.resource}`),
      ["BACKEND_NOT_FOUND HTTPRoute/shop/backend-split"],
    );
  });

  it("gives sidecars and proxyless clients the same route, assignment and cluster-independent objects", () => {
    const a = snapshotFor(compiled, sidecarNode("shop", "backend-1"));
    const b = snapshotFor(compiled, sidecarNode("shop", "frontend-7d4f9"));
    const p = snapshotFor(compiled, nodes.proxyless);
    const rc = "backend.shop.svc.cluster.local:80";
    const cla = "outbound|80||backend.shop.svc.cluster.local";
    const get = (s: typeof a, t: TypeUrl, n: string) => s.resources.get(t)?.get(n);
    assert.ok(get(a, TypeUrl.RouteConfiguration, rc));
    assert.equal(get(a, TypeUrl.RouteConfiguration, rc), get(b, TypeUrl.RouteConfiguration, rc));
    assert.equal(get(a, TypeUrl.RouteConfiguration, rc), get(p, TypeUrl.RouteConfiguration, rc));
    assert.equal(
      get(a, TypeUrl.ClusterLoadAssignment, cla),
      get(p, TypeUrl.ClusterLoadAssignment, cla),
    );
    assert.equal(get(a, TypeUrl.Cluster, cla), get(b, TypeUrl.Cluster, cla));
    assert.notEqual(
      get(a, TypeUrl.Cluster, cla),
      get(p, TypeUrl.Cluster, cla),
      "proxyless clusters are plaintext",
    );
    assert.equal(
      get(a, TypeUrl.Listener, "virtualOutbound"),
      get(b, TypeUrl.Listener, "virtualOutbound"),
    );
    assert.notEqual(
      get(a, TypeUrl.Listener, "virtualInbound"),
      get(b, TypeUrl.Listener, "virtualInbound"),
    );
  });

  it("shares the whole inbound side between replicas of one workload", () => {
    const one = snapshotFor(compiled, sidecarNode("shop", "backend-1"));
    const two = snapshotFor(compiled, sidecarNode("shop", "backend-2"));
    assert.equal(one.resources.get(TypeUrl.Listener), two.resources.get(TypeUrl.Listener));
    assert.equal(one.resources.get(TypeUrl.Cluster), two.resources.get(TypeUrl.Cluster));
    assert.equal(one.version, two.version);
  });

  it("versions: stable across compiles, different per workload, changed by a model change", () => {
    const again = compileMesh(fixtureModel(), OPTIONS);
    const node = sidecarNode("shop", "backend-1");
    assert.equal(snapshotFor(again, node).version, snapshotFor(compiled, node).version);
    assert.notEqual(
      snapshotFor(compiled, sidecarNode("data", "db-0")).version,
      snapshotFor(compiled, node).version,
    );
    const model = fixtureModel();
    const changed = compileMesh({ ...model, httpRoutes: [] }, OPTIONS);
    assert.notEqual(snapshotFor(changed, node).version, snapshotFor(compiled, node).version);
    assert.notEqual(
      snapshotFor(changed, nodes.proxyless).version,
      snapshotFor(compiled, nodes.proxyless).version,
    );
  });
});

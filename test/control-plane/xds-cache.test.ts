// The snapshot cache: versions derived from content, each shared message encoded once
// across many proxies, bad resources refused without changing anything, watches per node.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TypeUrl, unpackAny } from "../../api/xds-proto.js";
import { preparedType, SnapshotCache, typeDiff } from "../../control-plane/xds/cache.js";
import { XdsError } from "../../control-plane/xds/errors.js";
import { cla, cluster, HCM, listener, snapshot } from "./xds-fixtures.js";

function typeIn(cache: SnapshotCache, nodeId: string, typeUrl: string) {
  const prepared = cache.prepared(nodeId);
  assert.ok(prepared, `no snapshot for ${nodeId}`);
  return preparedType(prepared, typeUrl);
}

describe("SnapshotCache", () => {
  it("encodes a message shared by many proxies once, and a shared ResourceMap once", () => {
    const cache = new SnapshotCache();
    const clusters = Array.from({ length: 100 }, (_, i) => cluster(`c${i}`));
    for (let n = 0; n < 50; n++) {
      // A new Map per proxy, the same message objects (what the translator does).
      cache.setSnapshot(`node-${n}`, snapshot("v1", { clusters: [...clusters] }));
    }
    assert.deepEqual(cache.encoder.stats(), { encodes: 100, reused: 49 * 100 });

    const shared = snapshot("v1", { clusters });
    for (let n = 0; n < 50; n++) cache.setSnapshot(`shared-${n}`, shared);
    assert.equal(cache.encoder.stats().encodes, 100);
    const a = typeIn(cache, "shared-0", TypeUrl.Cluster);
    const b = typeIn(cache, "shared-49", TypeUrl.Cluster);
    assert.equal(a, b, "one PreparedType for one shared ResourceMap");
    assert.equal(cache.nodeIds().length, 100);
  });

  it("prepares a shared ResourceMap once, a new Map again, and a map that grew in place again", () => {
    const cache = new SnapshotCache();
    const a = cluster("a");
    const snap = snapshot("v1", { clusters: [a] });
    const first = preparedType(cache.setSnapshot("n", snap), TypeUrl.Cluster);
    assert.equal(preparedType(cache.setSnapshot("m", snap), TypeUrl.Cluster), first);
    const changed = preparedType(
      cache.setSnapshot("n", snapshot("v2", { clusters: [a, cluster("b")] })),
      TypeUrl.Cluster,
    );
    assert.notEqual(changed.version, first.version);
    assert.deepEqual([...changed.resources.keys()], ["a", "b"]);
    (snap.resources.get(TypeUrl.Cluster) as Map<string, unknown>).set("c", cluster("c"));
    const grown = preparedType(cache.setSnapshot("m", snap), TypeUrl.Cluster);
    assert.deepEqual([...grown.resources.keys()], ["a", "c"]);
    assert.equal(cache.encoder.stats().encodes, 3, "a, b and c, each once");
  });

  it("diffs two versions of a type once for every stream: changed, new and removed names", () => {
    const cache = new SnapshotCache();
    const eds = (clas: ReturnType<typeof cla>[]) =>
      typeIn(cache, "n", TypeUrl.ClusterLoadAssignment) &&
      preparedType(cache.setSnapshot("n", snapshot("v", { clas })), TypeUrl.ClusterLoadAssignment);
    cache.setSnapshot("n", snapshot("v0", {}));
    const before = eds([cla("a"), cla("b"), cla("c")]);
    const after = eds([cla("a"), cla("b", "10.0.0.2"), cla("d")]);
    const diff = typeDiff(before, after);
    assert.deepEqual(diff, { changed: ["b", "d"], removed: ["c"] });
    assert.equal(typeDiff(before, after), diff, "memoized per pair of types");
    assert.deepEqual(typeDiff(after, after), { changed: [], removed: [] });
  });

  it("derives type and resource versions from content, not from object identity", () => {
    const cache = new SnapshotCache();
    const one = cache.setSnapshot(
      "n",
      snapshot("1", { clusters: [cluster("a"), cluster("b")], clas: [cla("a")] }),
    );
    const two = cache.setSnapshot(
      "n",
      snapshot("2", { clusters: [cluster("a"), cluster("b", 5)], clas: [cla("a")] }),
    );
    const cds1 = preparedType(one, TypeUrl.Cluster);
    const cds2 = preparedType(two, TypeUrl.Cluster);
    assert.notEqual(cds1.version, cds2.version);
    assert.equal(cds1.resources.get("a")?.version, cds2.resources.get("a")?.version);
    assert.notEqual(cds1.resources.get("b")?.version, cds2.resources.get("b")?.version);
    assert.equal(
      preparedType(one, TypeUrl.ClusterLoadAssignment).version,
      preparedType(two, TypeUrl.ClusterLoadAssignment).version,
    );
    assert.match(cds1.version, /^[0-9a-f]{16}$/);
    // A type the snapshot lacks has no resources (and a stable version).
    assert.equal(preparedType(one, TypeUrl.Secret).resources.size, 0);
    assert.equal(
      preparedType(one, TypeUrl.Secret).version,
      preparedType(two, TypeUrl.Secret).version,
    );
  });

  it("refuses a resource that does not encode and keeps the previous snapshot", () => {
    const cache = new SnapshotCache();
    cache.setSnapshot("n", snapshot("good", { clusters: [cluster("a")] }));
    const bad = snapshot("bad", {
      clusters: [{ name: "x", connect_timeout: "soon" }],
      listeners: [listener("l")],
    });
    assert.throws(
      () => cache.setSnapshot("n", bad),
      (err: unknown) =>
        err instanceof XdsError && err.code === "XDS_RESOURCE_INVALID" && /"x"/.test(err.message),
    );
    assert.equal(cache.getSnapshot("n")?.version, "good");
  });

  it("names the field of a resource that protobufjs would silently drop", () => {
    const cache = new SnapshotCache();
    const refused = (m: Record<string, unknown>, pattern: RegExp) =>
      assert.throws(
        () => cache.setSnapshot("n", snapshot("x", { listeners: [m] })),
        (err: unknown) =>
          err instanceof XdsError &&
          err.code === "XDS_RESOURCE_INVALID" &&
          pattern.test(err.message),
      );
    refused({ name: "l", adress: {} }, /adress: no such field/);
    refused(
      { name: "l", traffic_direction: "SIDEWAYS" },
      /traffic_direction: "SIDEWAYS" is not a TrafficDirection/,
    );
    const hcm = { "@type": HCM, stat_prefix: "l", codec_type: "HTTP9" };
    refused(
      { name: "l", api_listener: { api_listener: hcm } },
      /api_listener\.api_listener\.codec_type/,
    );
    // Enums by name, nested Anys by "@type": what unpackAny gives back.
    const good = listener("l");
    cache.setSnapshot(
      "n",
      snapshot("ok", { listeners: [{ ...good, traffic_direction: "OUTBOUND" }] }),
    );
    const any = typeIn(cache, "n", TypeUrl.Listener).resources.get("l")?.any;
    assert.ok(any);
    const back = unpackAny(any);
    assert.equal(back.traffic_direction, "OUTBOUND");
    assert.deepEqual(
      (back.api_listener as { api_listener: unknown }).api_listener,
      (good.api_listener as { api_listener: unknown }).api_listener,
    );
  });

  it("notifies a node's watchers only, until cancelled", () => {
    const cache = new SnapshotCache();
    const seen: (string | undefined)[] = [];
    const cancel = cache.watch("n", (s) => seen.push(s?.version));
    cache.watch("other", () => seen.push("wrong node"));
    cache.setSnapshot("n", snapshot("1", {}));
    assert.equal(cache.clearSnapshot("n"), true);
    assert.equal(cache.clearSnapshot("n"), false);
    cancel();
    cancel();
    cache.setSnapshot("n", snapshot("2", {}));
    assert.deepEqual(seen, ["1", undefined]);
    assert.equal(cache.watcherCount("n"), 0);
    assert.equal(cache.watcherCount(), 1);
  });
});

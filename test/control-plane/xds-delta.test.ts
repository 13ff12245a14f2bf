// The incremental (delta) ADS state machine, driven directly: wildcard and named
// subscriptions, removals, reconnects with initial_resource_versions, ACK and NACK.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import { SnapshotCache } from "../../control-plane/xds/cache.js";
import { deltaResources } from "../helpers/ads-client.js";
import { cla, cluster, driveStream, NODE, snapshot } from "./xds-fixtures.js";

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.ClusterLoadAssignment;

function setup(cache = new SnapshotCache(), callbacks = {}) {
  const d = driveStream("delta", cache, callbacks);
  const req = (type_url: string, extra: XdsMessage = {}) =>
    d.stream.handleRequest({ node: NODE, type_url, ...extra });
  const ack = (r: XdsMessage, extra: XdsMessage = {}) =>
    req(r.type_url as string, { response_nonce: r.nonce, ...extra });
  const info = (typeUrl: string) =>
    d.registry.connections()[0]?.types.find((t) => t.typeUrl === typeUrl);
  return { cache, ...d, req, ack, info };
}

const names = (r: XdsMessage) => deltaResources(r).map((x) => x.name);

describe("delta ADS", () => {
  it("sends every resource to a wildcard subscription, each with its version", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, snapshot("s1", { clusters: [cluster("a"), cluster("b")] }));
    s.req(CDS);
    const r = s.take();
    assert.equal(r.system_version_info, "s1");
    const got = deltaResources(r);
    assert.deepEqual(
      got.map((x) => x.name),
      ["a", "b"],
    );
    assert.match(got[0]?.version ?? "", /^[0-9a-f]{16}$/);
    assert.equal(got[1]?.message.name, "b");
    assert.deepEqual(r.removed_resources ?? [], []);
    // Only what changed next time.
    s.ack(r);
    s.cache.setSnapshot(
      NODE.id,
      snapshot("s2", { clusters: [cluster("a"), cluster("b", 4), cluster("c")] }),
    );
    assert.deepEqual(names(s.take()), ["b", "c"]);
  });

  it("answers a first wildcard request even when the type is empty", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, snapshot("s1", {}));
    s.req(CDS);
    const r = s.take();
    assert.deepEqual(r.resources, []);
  });

  it("follows named subscribe and unsubscribe", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, snapshot("s1", { clas: [cla("a"), cla("b"), cla("c")] }));
    s.req(EDS, { resource_names_subscribe: ["a"] });
    const first = s.take();
    assert.deepEqual(names(first), ["a"]);
    s.ack(first, { resource_names_subscribe: ["b"] });
    assert.deepEqual(names(s.take()), ["b"], "only the new name");
    s.req(EDS, { resource_names_unsubscribe: ["a"] });
    assert.equal(s.sent.length, 0);
    assert.deepEqual(s.info(EDS)?.subscribed, ["b"]);
    s.cache.setSnapshot(
      NODE.id,
      snapshot("s2", { clas: [cla("a", "10.0.0.7"), cla("b"), cla("c")] }),
    );
    assert.equal(s.sent.length, 0, "a change to an unsubscribed name is not sent");
    s.cache.setSnapshot(
      NODE.id,
      snapshot("s3", { clas: [cla("a", "10.0.0.7"), cla("b", "10.0.0.8"), cla("c")] }),
    );
    assert.deepEqual(names(s.take()), ["b"]);
  });

  it("sends nothing for a name that does not exist, then sends it when it appears", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, snapshot("s1", { clas: [cla("a")] }));
    s.req(EDS, { resource_names_subscribe: ["z"] });
    assert.equal(s.sent.length, 0);
    s.cache.setSnapshot(NODE.id, snapshot("s2", { clas: [cla("a"), cla("z")] }));
    assert.deepEqual(names(s.take()), ["z"]);
  });

  it("lists deleted resources in removed_resources", () => {
    const s = setup();
    s.cache.setSnapshot(
      NODE.id,
      snapshot("s1", { clusters: [cluster("a"), cluster("b")], clas: [cla("a"), cla("b")] }),
    );
    s.req(CDS);
    s.ack(s.take());
    s.req(EDS, { resource_names_subscribe: ["a", "b"] });
    s.ack(s.take());
    s.cache.setSnapshot(NODE.id, snapshot("s2", { clusters: [cluster("a")], clas: [cla("a")] }));
    const [cds, eds] = s.takeAll();
    assert.deepEqual([cds?.type_url, cds?.resources, cds?.removed_resources], [CDS, [], ["b"]]);
    assert.deepEqual([eds?.type_url, eds?.removed_resources], [EDS, ["b"]]);
    // Removed once: not again.
    s.cache.setSnapshot(NODE.id, snapshot("s3", { clusters: [cluster("a")], clas: [cla("a")] }));
    assert.equal(s.sent.length, 0);
  });

  it("on reconnect, sends only what changed since initial_resource_versions, plus removals", () => {
    const cache = new SnapshotCache();
    cache.setSnapshot(
      NODE.id,
      snapshot("s1", { clusters: [cluster("a"), cluster("b"), cluster("gone")] }),
    );
    const before = setup(cache);
    before.req(CDS);
    const held = Object.fromEntries(deltaResources(before.take()).map((r) => [r.name, r.version]));
    before.stream.close();

    cache.setSnapshot(
      NODE.id,
      snapshot("s2", { clusters: [cluster("a"), cluster("b", 7), cluster("c")] }),
    );
    const after = setup(cache);
    after.req(CDS, { initial_resource_versions: held });
    const r = after.take();
    assert.deepEqual(names(r), ["b", "c"]);
    assert.deepEqual(r.removed_resources, ["gone"]);
  });

  it("records a NACK and does not resend that resource version until it changes", () => {
    const nacks: unknown[][] = [];
    const s = setup(new SnapshotCache(), { onNack: (...a: unknown[]) => nacks.push(a) });
    s.cache.setSnapshot(NODE.id, snapshot("s1", { clusters: [cluster("a"), cluster("b")] }));
    s.req(CDS);
    const r = s.take();
    s.ack(r, { error_detail: { code: 3, message: "b is bad" } });
    assert.equal(s.sent.length, 0);
    assert.deepEqual(
      s.info(CDS)?.lastNack && [s.info(CDS)?.lastNack?.version, s.info(CDS)?.lastNack?.message],
      ["s1", "b is bad"],
    );
    assert.deepEqual(nacks[0]?.slice(1), [NODE.id, CDS, "s1", "b is bad"]);
    s.cache.setSnapshot(
      NODE.id,
      snapshot("s2", { clusters: [cluster("a"), cluster("b"), cluster("c")] }),
    );
    assert.deepEqual(names(s.take()), ["c"], "the NACKed b is not resent unchanged");
    s.cache.setSnapshot(
      NODE.id,
      snapshot("s3", { clusters: [cluster("a"), cluster("b", 8), cluster("c")] }),
    );
    const fixed = s.take();
    assert.deepEqual(names(fixed), ["b"]);
    s.ack(fixed);
    assert.equal(s.info(CDS)?.ackedVersion, "s3");
  });

  it("treats an explicit '*' as a subscription that can be dropped", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, snapshot("s1", { clusters: [cluster("a"), cluster("b")] }));
    s.req(CDS, { resource_names_subscribe: ["*", "a"] });
    s.ack(s.take());
    assert.equal(s.info(CDS)?.subscribed, "*");
    s.req(CDS, { resource_names_unsubscribe: ["*"] });
    assert.deepEqual(s.info(CDS)?.subscribed, ["a"]);
    s.cache.setSnapshot(NODE.id, snapshot("s2", { clusters: [cluster("a", 2), cluster("b", 2)] }));
    assert.deepEqual(names(s.take()), ["a"]);
  });

  it("applies a subscription that arrives with a stale nonce", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, snapshot("s1", { clas: [cla("a"), cla("b")] }));
    s.req(EDS, { resource_names_subscribe: ["a"] });
    const first = s.take();
    s.cache.setSnapshot(NODE.id, snapshot("s2", { clas: [cla("a", "10.2.2.2"), cla("b")] }));
    s.take();
    s.ack(first, { resource_names_subscribe: ["b"] });
    assert.deepEqual(names(s.take()), ["b"]);
    assert.equal(s.info(EDS)?.ackedVersion, undefined, "a stale nonce is no ACK");
  });
});

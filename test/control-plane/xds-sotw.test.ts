// The state-of-the-world ADS state machine, driven directly (no sockets): wildcard and
// named subscriptions, ACK/NACK/stale nonces, pushes on snapshot changes and their order.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import { SnapshotCache } from "../../control-plane/xds/cache.js";
import { responseNames } from "../helpers/ads-client.js";
import { cla, cluster, driveStream, listener, NODE, route, snapshot } from "./xds-fixtures.js";

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.ClusterLoadAssignment;
const LDS = TypeUrl.Listener;
const RDS = TypeUrl.RouteConfiguration;

const base = () =>
  snapshot("1", {
    clusters: [cluster("a"), cluster("b")],
    clas: [cla("a"), cla("b")],
    listeners: [listener("l1"), listener("l2")],
    routes: [route("r1"), route("r2")],
  });

function setup(callbacks = {}) {
  const cache = new SnapshotCache();
  const d = driveStream("sotw", cache, callbacks);
  const req = (type_url: string, resource_names: string[] = [], extra: XdsMessage = {}) =>
    d.stream.handleRequest({ node: NODE, type_url, resource_names, ...extra });
  const ack = (r: XdsMessage, names: string[] = [], extra: XdsMessage = {}) =>
    req(r.type_url as string, names, {
      version_info: r.version_info,
      response_nonce: r.nonce,
      ...extra,
    });
  const info = (typeUrl: string) =>
    d.registry.connections()[0]?.types.find((t) => t.typeUrl === typeUrl);
  return { cache, ...d, req, ack, info };
}

describe("SotW ADS", () => {
  it("answers a first request with no names (legacy wildcard) or '*' with every Cluster / Listener", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, base());
    s.req(CDS);
    const cds = s.take();
    assert.deepEqual(responseNames(cds), ["a", "b"]);
    assert.equal(cds.type_url, CDS);
    assert.match(cds.version_info as string, /^[0-9a-f]{16}$/);
    s.req(LDS, ["*"]);
    assert.deepEqual(responseNames(s.take()), ["l1", "l2"]);
    assert.equal(s.info(LDS)?.subscribed, "*");
  });

  it("sends only the requested names of EDS and RDS", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, base());
    s.req(EDS, ["b", "missing"]);
    assert.deepEqual(responseNames(s.take()), ["b"]);
    s.req(RDS, ["r1"]);
    assert.deepEqual(responseNames(s.take()), ["r1"]);
    assert.deepEqual(s.info(EDS)?.subscribed, ["b", "missing"]);
  });

  it("waits for a snapshot, then answers what was asked", () => {
    const s = setup();
    s.req(CDS);
    s.req(EDS, ["a"]);
    assert.equal(s.sent.length, 0);
    s.cache.setSnapshot(NODE.id, base());
    assert.deepEqual(
      s.takeAll().map((r) => [r.type_url, responseNames(r)]),
      [
        [CDS, ["a", "b"]],
        [EDS, ["a"]],
      ],
    );
  });

  it("records an ACK, and does not answer it", () => {
    const acks: unknown[] = [];
    const s = setup({ onAck: (...a: unknown[]) => acks.push(a) });
    s.cache.setSnapshot(NODE.id, base());
    s.req(CDS);
    const cds = s.take();
    s.ack(cds);
    assert.equal(s.sent.length, 0);
    assert.equal(s.info(CDS)?.ackedVersion, cds.version_info);
    assert.deepEqual(s.info(CDS)?.lastSent?.nonce, cds.nonce);
    assert.deepEqual(acks, [[s.stream.state.streamId, NODE.id, CDS, cds.version_info]]);
  });

  it("records a NACK, calls onNack, and resends only when the type changes", () => {
    const nacks: unknown[] = [];
    const s = setup({ onNack: (...a: unknown[]) => nacks.push(a) });
    s.cache.setSnapshot(NODE.id, base());
    s.req(CDS);
    const cds = s.take();
    s.ack(cds, [], { error_detail: { code: 3, message: "cluster b: bad lb policy" } });
    assert.equal(s.sent.length, 0, "a NACK is not answered with the same version");
    assert.equal(s.info(CDS)?.lastNack?.version, cds.version_info);
    assert.equal(s.info(CDS)?.lastNack?.message, "cluster b: bad lb policy");
    assert.equal(s.info(CDS)?.ackedVersion, undefined);
    assert.deepEqual(nacks, [
      [s.stream.state.streamId, NODE.id, CDS, cds.version_info, "cluster b: bad lb policy"],
    ]);

    // Another snapshot, Clusters unchanged: still not resent.
    const same = base();
    s.cache.setSnapshot(NODE.id, { ...same, version: "2" });
    assert.equal(s.sent.length, 0);
    // Clusters changed: sent.
    s.cache.setSnapshot(NODE.id, snapshot("3", { clusters: [cluster("a"), cluster("b", 2)] }));
    const fixed = s.take();
    assert.equal(fixed.type_url, CDS);
    assert.notEqual(fixed.version_info, cds.version_info);
  });

  it("ignores a request with a stale nonce entirely", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, base());
    s.req(EDS, ["a"]);
    const first = s.take();
    s.cache.setSnapshot(NODE.id, snapshot("2", { clas: [cla("a", "10.0.0.9"), cla("b")] }));
    const second = s.take();
    assert.notEqual(second.nonce, first.nonce);
    // Crossed in flight: answers the first response, asks for other names.
    s.ack(first, ["a", "b"]);
    assert.equal(s.sent.length, 0);
    assert.deepEqual(s.info(EDS)?.subscribed, ["a"]);
    assert.equal(s.info(EDS)?.ackedVersion, undefined);
    // The answer to the latest one counts.
    s.ack(second, ["a"]);
    assert.equal(s.info(EDS)?.ackedVersion, second.version_info);
  });

  it("answers a change of resource_names with the view for the new set, same version or not", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, base());
    s.req(EDS, ["a"]);
    const first = s.take();
    s.ack(first, ["a"]);
    s.ack(first, ["a", "b"]);
    const wider = s.take();
    assert.deepEqual(responseNames(wider), ["a", "b"]);
    assert.equal(wider.version_info, first.version_info);
    s.ack(wider, ["b"]);
    assert.deepEqual(responseNames(s.take()), ["b"]);
  });

  it("sends a name asked for before it exists once it appears", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, base());
    s.req(EDS, ["c"]);
    s.req(RDS, ["r3"]);
    assert.equal(s.sent.length, 0, "nothing to show yet");
    s.cache.setSnapshot(
      NODE.id,
      snapshot("2", { ...parts(), clas: [cla("a"), cla("b"), cla("c")] }),
    );
    const eds = s.take();
    assert.deepEqual(responseNames(eds), ["c"]);
  });

  it("resends LDS/CDS whole after one resource changes; named types only their names", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, base());
    s.req(CDS);
    s.ack(s.take());
    s.req(EDS, ["a"]);
    s.ack(s.take(), ["a"]);
    s.cache.setSnapshot(
      NODE.id,
      snapshot("2", {
        ...parts(),
        clusters: [cluster("a"), cluster("b", 9)],
        clas: [cla("a"), cla("b", "10.9.9.9")],
      }),
    );
    const cds = s.take();
    assert.deepEqual(responseNames(cds), ["a", "b"], "CDS carries every cluster");
    // EDS "b" changed, but this stream asked only for "a": nothing for it.
    s.cache.setSnapshot(
      NODE.id,
      snapshot("3", {
        ...parts(),
        clusters: [cluster("a"), cluster("b", 9)],
        clas: [cla("a", "10.1.1.1"), cla("b", "10.9.9.9")],
      }),
    );
    const eds = s.take();
    assert.equal(eds.type_url, EDS);
    assert.deepEqual(responseNames(eds), ["a"]);
  });

  it("leaves a deleted resource out: LDS/CDS whole without it, nothing for an EDS name alone", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, base());
    s.req(LDS);
    s.ack(s.take());
    s.req(EDS, ["a", "b"]);
    s.ack(s.take(), ["a", "b"]);
    s.cache.setSnapshot(
      NODE.id,
      snapshot("2", { ...parts(), listeners: [listener("l2")], clas: [cla("a")] }),
    );
    const [lds, ...rest] = s.takeAll();
    assert.deepEqual(responseNames(lds as XdsMessage), ["l2"]);
    assert.deepEqual(rest, [], "EDS b went away and a did not change: no EDS response");
  });

  it("pushes only the changed resources of a grouped type; a new request gets the whole view", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, base());
    s.req(EDS, ["a", "b"]);
    const first = s.take();
    assert.deepEqual(responseNames(first), ["a", "b"]);
    s.ack(first, ["a", "b"]);
    s.cache.setSnapshot(
      NODE.id,
      snapshot("2", { ...parts(), clas: [cla("a"), cla("b", "10.7.7.7")] }),
    );
    const push = s.take();
    assert.equal(push.type_url, EDS);
    assert.deepEqual(responseNames(push), ["b"], "a is unchanged: not resent");
    s.ack(push, ["a", "b", "c"]);
    assert.deepEqual(responseNames(s.take()), ["a", "b"], "the request's answer is its whole view");
  });

  it("does not push a type whose resources did not change", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, base());
    for (const t of [CDS, LDS]) {
      s.req(t);
      s.ack(s.take());
    }
    s.cache.setSnapshot(
      NODE.id,
      snapshot("2", { ...parts(), listeners: [listener("l1"), listener("l2"), listener("l3")] }),
    );
    assert.deepEqual(
      s.takeAll().map((r) => r.type_url),
      [LDS],
    );
    s.cache.setSnapshot(
      NODE.id,
      snapshot("3", { ...parts(), listeners: [listener("l1"), listener("l2"), listener("l3")] }),
    );
    assert.equal(s.sent.length, 0);
  });

  it("pushes one update in make-before-break order: clusters, endpoints, listeners, routes", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, base());
    // Subscribed in the reverse order, so the order comes from the server.
    s.req(RDS, ["r1"]);
    s.req(LDS);
    s.req(EDS, ["a"]);
    s.req(CDS);
    for (const r of s.takeAll())
      s.ack(r, r.type_url === RDS ? ["r1"] : r.type_url === EDS ? ["a"] : []);
    s.cache.setSnapshot(
      NODE.id,
      snapshot("2", {
        clusters: [cluster("a", 3)],
        clas: [cla("a", "10.3.3.3")],
        listeners: [listener("l1", "r1")],
        routes: [route("r1", "z")],
      }),
    );
    assert.deepEqual(
      s.takeAll().map((r) => r.type_url),
      [CDS, EDS, LDS, RDS],
    );
  });

  it("uses increasing nonces and refuses a first request without node", () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, base());
    s.req(CDS);
    s.req(LDS);
    const [a, b] = s.takeAll();
    assert.ok(Number(b?.nonce) > Number(a?.nonce));
    // Later requests may omit node.
    s.stream.handleRequest({ type_url: EDS, resource_names: ["a"] });
    assert.deepEqual(responseNames(s.take()), ["a"]);

    const bare = driveStream("sotw", s.cache);
    bare.stream.handleRequest({ type_url: CDS });
    assert.equal(bare.failures[0]?.code, "XDS_NODE_MISSING");
    assert.equal(bare.stream.closed, true);
    assert.equal(s.cache.watcherCount(NODE.id), 1);
  });

  it("survives callbacks that throw or reject", () => {
    const boom = () => {
      throw new Error("boom");
    };
    const s = setup({
      onStreamRequest: boom,
      onStreamResponse: () => Promise.reject(new Error("async boom")),
      onAck: boom,
    });
    s.cache.setSnapshot(NODE.id, base());
    s.req(CDS);
    s.ack(s.take());
    assert.equal(s.info(CDS)?.ackedVersion !== undefined, true);
  });

  it("sees a snapshot set by onStreamRequest on the stream's first request", () => {
    const cache = new SnapshotCache();
    const d = driveStream("sotw", cache, {
      onStreamRequest: (_id: number, node: XdsMessage) => {
        if (!cache.getSnapshot(node.id as string)) cache.setSnapshot(node.id as string, base());
      },
    });
    d.stream.handleRequest({ node: NODE, type_url: CDS });
    assert.deepEqual(responseNames(d.take()), ["a", "b"]);
  });
});

function parts() {
  return {
    clusters: [cluster("a"), cluster("b")],
    clas: [cla("a"), cla("b")],
    listeners: [listener("l1"), listener("l2")],
    routes: [route("r1"), route("r2")],
  };
}

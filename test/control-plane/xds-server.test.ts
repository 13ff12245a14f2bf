// The xDS server over real gRPC on loopback: SotW and delta streams, connections() for the
// admin page, hooks, extra services on both ports, mutual TLS on the TLS port, and every
// watch released when clients go away.

import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { TypeUrl } from "../../api/xds-proto.js";
import { CertificateAuthority, svidPem } from "../../certs/index.js";
import { SnapshotCache } from "../../control-plane/xds/cache.js";
import { type Callbacks, silentLogger } from "../../control-plane/xds/callbacks.js";
import { startXdsServer, XdsError, type XdsServerOptions } from "../../control-plane/xds/index.js";
import { AdsClient, deltaResources, responseNames } from "../helpers/ads-client.js";
import { cla, cluster, NODE, snapshot } from "./xds-fixtures.js";

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.ClusterLoadAssignment;
const LOOPBACK = { host: "127.0.0.1", port: 0 };

async function serve(t: TestContext, opts: Partial<XdsServerOptions> = {}) {
  const cache = opts.cache ?? new SnapshotCache();
  const server = await startXdsServer({ cache, log: silentLogger, plaintext: LOOPBACK, ...opts });
  t.after(() => server.close());
  return { cache, server };
}

function client(t: TestContext, port: number, options = {}) {
  const c = new AdsClient(`127.0.0.1:${port}`, options);
  t.after(() => c.close());
  return c;
}

/** Polls `check` (bounded) until it holds: for state the server updates after a network hop. */
async function eventually(what: string, check: () => boolean, timeoutMs = 2_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A tiny unary service with JSON messages, standing in for the CA service. */
const ECHO = {
  Echo: {
    path: "/test.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
    requestDeserialize: (b: Buffer) => JSON.parse(b.toString()),
    responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
    responseDeserialize: (b: Buffer) => JSON.parse(b.toString()),
  },
} satisfies grpc.ServiceDefinition;

describe("xDS server over gRPC", () => {
  it("serves SotW: wildcard CDS, named EDS, ACK and NACK visible in connections() and hooks", async (t) => {
    const events: string[] = [];
    const callbacks: Callbacks = {
      onStreamOpen: (_id, protocol) => void events.push(`open ${protocol}`),
      onAck: (_id, node, type) => void events.push(`ack ${node} ${type.split(".").pop()}`),
      onNack: (_id, _node, type, _v, msg) =>
        void events.push(`nack ${type.split(".").pop()} ${msg}`),
    };
    const { cache, server } = await serve(t, { callbacks });
    cache.setSnapshot(
      NODE.id,
      snapshot("1", { clusters: [cluster("a"), cluster("b")], clas: [cla("a"), cla("b")] }),
    );
    const stream = client(t, server.plaintextPort as number).sotw(NODE);
    t.after(() => stream.cancel());

    stream.send({ type_url: CDS });
    const cds = await stream.next();
    assert.deepEqual(responseNames(cds), ["a", "b"]);
    stream.ack(cds);
    stream.send({ type_url: EDS, resource_names: ["b"] });
    const eds = await stream.next();
    assert.deepEqual(responseNames(eds), ["b"]);
    stream.nack(eds, "endpoint b: bad address");

    await eventually("the NACK", () => events.some((e) => e.startsWith("nack")));
    const [conn] = server.connections();
    assert.equal(conn?.nodeId, NODE.id);
    assert.equal(conn?.protocol, "sotw");
    assert.match(conn?.peer ?? "", /127\.0\.0\.1/);
    const cdsInfo = conn?.types.find((x) => x.typeUrl === CDS);
    assert.equal(cdsInfo?.subscribed, "*");
    assert.equal(cdsInfo?.ackedVersion, cds.version_info);
    const edsInfo = conn?.types.find((x) => x.typeUrl === EDS);
    assert.deepEqual(edsInfo?.subscribed, ["b"]);
    assert.deepEqual(
      [edsInfo?.lastNack?.version, edsInfo?.lastNack?.message],
      [eds.version_info, "endpoint b: bad address"],
    );
    assert.deepEqual(events, [
      "open sotw",
      `ack ${NODE.id} Cluster`,
      "nack ClusterLoadAssignment endpoint b: bad address",
    ]);
    await stream.expectNone(100);
  });

  it("serves delta over the same port", async (t) => {
    const { cache, server } = await serve(t);
    cache.setSnapshot(NODE.id, snapshot("s1", { clusters: [cluster("a")] }));
    const stream = client(t, server.plaintextPort as number).delta(NODE);
    t.after(() => stream.cancel());
    stream.send({ type_url: CDS });
    const first = await stream.next();
    assert.deepEqual(
      deltaResources(first).map((r) => [r.name, r.message.type]),
      [["a", "EDS"]],
    );
    stream.ack(first);
    await eventually("the ACK", () => server.connections()[0]?.types[0]?.ackedVersion === "s1");
    cache.setSnapshot(NODE.id, snapshot("s2", { clusters: [cluster("b")] }));
    const second = await stream.next();
    assert.deepEqual(
      [deltaResources(second).map((r) => r.name), second.removed_resources],
      [["b"], ["a"]],
    );
  });

  it("refuses to start with no port to listen on", async () => {
    await assert.rejects(
      startXdsServer({ cache: new SnapshotCache() }),
      (err: unknown) => err instanceof XdsError && err.code === "XDS_SERVER_CONFIG",
    );
  });

  it("ends a stream whose first request has no node with INVALID_ARGUMENT", async (t) => {
    const { server } = await serve(t);
    const stream = client(t, server.plaintextPort as number).sotw(null);
    stream.send({ type_url: CDS });
    const status = await stream.status;
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.match(status.details, /XDS_NODE_MISSING/);
  });

  it("releases every watch and connection when clients cancel or half-close", async (t) => {
    const closed: string[] = [];
    const { cache, server } = await serve(t, {
      callbacks: { onStreamClosed: (_id, node) => void closed.push(node) },
    });
    const c = client(t, server.plaintextPort as number);
    const streams = [0, 1, 2, 3].map((i) =>
      i % 2 ? c.delta({ id: `n${i}` }) : c.sotw({ id: `n${i}` }),
    );
    for (const s of streams) s.send({ type_url: CDS });
    await eventually("4 watches", () => cache.watcherCount() === 4);
    assert.equal(server.connections().length, 4);
    streams[0]?.cancel();
    await streams[1]?.end();
    await eventually("2 watches", () => cache.watcherCount() === 2);
    streams[2]?.cancel();
    await streams[3]?.end();
    await eventually(
      "no watches",
      () => cache.watcherCount() === 0 && server.connections().length === 0,
    );
    assert.deepEqual(closed.sort(), ["n0", "n1", "n2", "n3"]);
  });

  it("closes promptly with streams still open, releasing their watches", async (t) => {
    const { cache, server } = await serve(t);
    const stream = client(t, server.plaintextPort as number).sotw(NODE);
    stream.send({ type_url: CDS });
    await eventually("the stream", () => server.connections().length === 1);
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 1_000, `close took ${Date.now() - started} ms`);
    assert.equal((await stream.status).code, grpc.status.UNAVAILABLE);
    assert.equal(cache.watcherCount(), 0);
  });

  it("serves ADS on the TLS port only to clients with a certificate from the bundle; extra services on both ports, with or without one", async (t) => {
    const ca = await CertificateAuthority.create();
    const serverSvid = await ca.issue({
      spiffeId: "spiffe://cluster.local/ns/trellis-system/sa/control-plane",
    });
    const serverPem = svidPem(serverSvid);
    const { cache, server } = await serve(t, {
      tls: {
        ...LOOPBACK,
        certChainPem: serverPem.chain,
        keyPem: serverSvid.privateKeyPem,
        trustBundlePem: serverPem.bundle,
      },
      services: [
        {
          definition: ECHO,
          implementation: {
            Echo: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
              cb(null, call.request),
          },
        },
      ],
    });
    assert.notEqual(server.tlsPort, server.plaintextPort);
    cache.setSnapshot(NODE.id, snapshot("1", { clusters: [cluster("a")] }));
    const bundle = Buffer.from(serverPem.bundle);
    // SVIDs carry a SPIFFE URI, not a DNS name: the caller checks identity, not host names.
    const verify = { checkServerIdentity: () => undefined };

    const anonymous = client(t, server.tlsPort as number, {
      credentials: grpc.credentials.createSsl(bundle, null, null, verify),
    }).sotw(NODE);
    t.after(() => anonymous.cancel());
    anonymous.send({ type_url: CDS });
    await assert.rejects(anonymous.next(), /UNAUTHENTICATED.*client certificate/);
    const stranger = await (await CertificateAuthority.create()).issue({
      spiffeId: "spiffe://cluster.local/ns/default/sa/frontend",
    });
    const impostor = client(t, server.tlsPort as number, {
      credentials: grpc.credentials.createSsl(
        bundle,
        Buffer.from(stranger.privateKeyPem),
        Buffer.from(svidPem(stranger).chain),
        verify,
      ),
    }).sotw(NODE);
    t.after(() => impostor.cancel());
    impostor.send({ type_url: CDS });
    await assert.rejects(impostor.next(), /UNAUTHENTICATED.*client certificate/);

    const workload = await ca.issue({ spiffeId: "spiffe://cluster.local/ns/default/sa/frontend" });
    const creds = grpc.credentials.createSsl(
      bundle,
      Buffer.from(workload.privateKeyPem),
      Buffer.from(svidPem(workload).chain),
      verify,
    );
    const sidecar = client(t, server.tlsPort as number, { credentials: creds }).sotw(NODE);
    t.after(() => sidecar.cancel());
    sidecar.send({ type_url: CDS });
    assert.deepEqual(responseNames(await sidecar.next()), ["a"]);

    for (const [port, credentials] of [
      [server.plaintextPort, grpc.credentials.createInsecure()],
      [server.tlsPort, creds],
      [server.tlsPort, grpc.credentials.createSsl(bundle, null, null, verify)],
    ] as const) {
      const Echo = grpc.makeGenericClientConstructor(ECHO, "Echo");
      const echo = new Echo(`127.0.0.1:${port}`, credentials);
      t.after(() => echo.close());
      const reply = await new Promise((resolve, reject) =>
        (echo as unknown as Record<string, (...a: unknown[]) => void>).Echo?.(
          { hi: port },
          (err: unknown, r: unknown) => (err ? reject(err) : resolve(r)),
        ),
      );
      assert.deepEqual(reply, { hi: port });
    }
  });
});

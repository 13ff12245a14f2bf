// The control plane assembled (startControlPlane), in process, as a sidecar meets it: with
// only a token and the trust bundle it gets an SVID from the CA service on the TLS port,
// then opens ADS there with that SVID and receives its snapshot; the admin port shows the
// snapshot and the connection. The mesh controller pushes a changed endpoint, batches a
// burst of changes into one compile, and forgets a proxy when its last stream closes.

import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  CA_SERVICE_PATH,
  caServiceDefinition,
  type IstioCertificateResponse,
} from "../../api/ca-proto.js";
import { TypeUrl } from "../../api/xds-proto.js";
import {
  createCsr,
  generateKeyPair,
  privateKeyToPem,
  TrustBundle,
  verifySvid,
} from "../../certs/index.js";
import { mintWorkloadToken } from "../../control-plane/ca/index.js";
import { type ControlPlane, startControlPlane } from "../../control-plane/control-plane.js";
import { AdsClient, deltaResources, responseNames, sotwResources } from "../helpers/ads-client.js";

const CONFIG = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: shop}
spec:
  clusterIP: 10.96.0.20
  selector: {app: backend}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: backend-1, namespace: shop, labels: {app: backend}}
spec:
  serviceAccountName: backend
  containers: [{name: app, image: app, ports: [{containerPort: 8080}]}]
status:
  podIP: 10.244.1.5
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata: {name: frontend-1, namespace: shop, labels: {app: frontend}}
spec:
  serviceAccountName: frontend
  containers: [{name: app, image: app, ports: [{containerPort: 3000}]}]
status:
  podIP: 10.244.1.6
  conditions: [{type: Ready, status: "True"}]
`;

const FRONTEND_NODE = {
  id: "sidecar~10.244.1.6~frontend-1.shop~shop.svc.cluster.local",
  metadata: {
    NAMESPACE: "shop",
    NAME: "frontend-1",
    SERVICE_ACCOUNT: "frontend",
    LABELS: { app: "frontend" },
    INSTANCE_IPS: "10.244.1.6",
  },
};
const BACKEND_CLA = "outbound|80||backend.shop.svc.cluster.local";
const SVID_VERIFY = { checkServerIdentity: () => undefined };

function createCertificate(
  port: number,
  credentials: grpc.ChannelCredentials,
  csr: string,
  token: string,
): Promise<IstioCertificateResponse> {
  const Client = grpc.makeGenericClientConstructor(caServiceDefinition(), "Ca");
  const client = new Client(`127.0.0.1:${port}`, credentials);
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  const def = caServiceDefinition().CreateCertificate;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      CA_SERVICE_PATH,
      def.requestSerialize,
      def.responseDeserialize,
      { csr, validity_duration: 3600 },
      md,
      { deadline: Date.now() + 5_000 },
      (err: grpc.ServiceError | null, res?: IstioCertificateResponse) => {
        client.close();
        if (err) reject(err);
        else resolve(res as IstioCertificateResponse);
      },
    ),
  );
}

async function adminGet(cp: ControlPlane, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${cp.adminPort}${path}`);
  return { status: res.status, body: await res.text() };
}

describe("startControlPlane", () => {
  let dir: string;
  let cp: ControlPlane;
  const logs: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trellis-cp-"));
    await mkdir(join(dir, "config"));
    await writeFile(join(dir, "config", "mesh.yaml"), CONFIG);
    cp = await startControlPlane({
      configDir: join(dir, "config"),
      caDir: join(dir, "ca"),
      xdsPort: 0,
      xdsTlsPort: 0,
      adminPort: 0,
      debounceMs: 10,
      log: (message, fields) => logs.push(`${message} ${JSON.stringify(fields ?? {})}`),
    });
  });

  after(async () => {
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("creates a CA in an empty --ca-dir and a token key beside it", () => {
    assert.equal(cp.createdCa, true);
    assert.equal(cp.tokenKeyFile, join(dir, "ca", "token-key.pem"));
    assert.ok(cp.tokenKey);
    assert.equal(cp.trustDomain, "cluster.local");
  });

  it("is ready, and says where config_dump needs a node", async () => {
    assert.deepEqual(await adminGet(cp, "/ready"), { status: 200, body: "ready\n" });
    const dump = await adminGet(cp, "/debug/config_dump");
    assert.equal(dump.status, 400);
    assert.match(dump.body, /node=ID/);
    assert.equal((await adminGet(cp, "/debug/config_dump?node=nobody")).status, 404);
    assert.equal((await adminGet(cp, "/nowhere")).status, 404);
  });

  it("a sidecar: token → SVID over TLS without a client certificate, then ADS over TLS with it", async (t) => {
    const bundlePem = cp.trustBundlePem();
    const anonymous = grpc.credentials.createSsl(Buffer.from(bundlePem), null, null, SVID_VERIFY);
    const keys = await generateKeyPair("ec-p256");
    const spiffeId = "spiffe://cluster.local/ns/shop/sa/frontend";
    const token = await mintWorkloadToken(cp.tokenKey as never, {
      namespace: "shop",
      serviceAccount: "frontend",
      podName: "frontend-1",
      ttlSeconds: 600,
    });
    const res = await createCertificate(
      cp.xdsTlsPort,
      anonymous,
      await createCsr(keys.privateKey, [spiffeId]),
      token,
    );
    const chainPem = res.cert_chain.join("");
    const verified = await verifySvid(chainPem, TrustBundle.fromPem(bundlePem), "cluster.local");
    assert.equal(verified.ok && verified.spiffeId.uri, spiffeId);

    const ads = new AdsClient(`127.0.0.1:${cp.xdsTlsPort}`, {
      credentials: grpc.credentials.createSsl(
        Buffer.from(bundlePem),
        Buffer.from(privateKeyToPem(keys.privateKey)),
        Buffer.from(chainPem),
        SVID_VERIFY,
      ),
    });
    t.after(() => ads.close());
    const stream = ads.sotw(FRONTEND_NODE);
    t.after(() => stream.cancel());
    stream.send({ type_url: TypeUrl.Cluster });
    const cds = await stream.next();
    assert.ok(responseNames(cds).includes(BACKEND_CLA), `${responseNames(cds)} ${logs.join("\n")}`);
    stream.ack(cds);
    stream.send({ type_url: TypeUrl.ClusterLoadAssignment, resource_names: [BACKEND_CLA] });
    const eds = await stream.next();
    assert.match(JSON.stringify(sotwResources(eds)), /10\.244\.1\.5/);
    stream.ack(eds);

    const dump = JSON.parse(
      (await adminGet(cp, `/debug/config_dump?node=${FRONTEND_NODE.id}`)).body,
    );
    assert.deepEqual(dump.listeners.map((l: { name: string }) => l.name).sort(), [
      "virtualInbound",
      "virtualOutbound",
    ]);
    assert.ok(dump.clusters.some((c: { name: string }) => c.name === BACKEND_CLA));
    const conns = JSON.parse((await adminGet(cp, "/debug/connections")).body);
    const mine = conns.find((c: { nodeId: string }) => c.nodeId === FRONTEND_NODE.id);
    assert.equal(mine.protocol, "sotw");
    assert.ok(
      mine.types.some(
        (x: { typeUrl: string; ackedVersion?: string }) =>
          x.typeUrl === TypeUrl.Cluster && x.ackedVersion !== undefined,
      ),
    );
  });

  it("pushes a changed endpoint to a connected proxy; forgets the proxy when it goes", async (t) => {
    const ads = new AdsClient(`127.0.0.1:${cp.xdsPort}`);
    t.after(() => ads.close());
    const node = {
      ...FRONTEND_NODE,
      id: "sidecar~10.244.1.6~frontend-1.shop~shop.svc.cluster.local-2",
    };
    const stream = ads.delta(node);
    stream.send({
      type_url: TypeUrl.ClusterLoadAssignment,
      resource_names_subscribe: [BACKEND_CLA],
    });
    stream.ack(await stream.next());
    const before = cp.mesh.stats().compiles;
    const pod = await cp.store.get("Pod", "backend-1", "shop");
    assert.ok(pod);
    // A burst of changes: one compile.
    for (const ip of ["10.244.1.50", "10.244.1.51", "10.244.1.52"]) {
      await cp.store.apply({
        ...pod,
        metadata: { ...pod.metadata, resourceVersion: undefined },
        status: { ...pod.status, podIP: ip },
      });
    }
    const push = await stream.next(3_000);
    assert.match(JSON.stringify(deltaResources(push)), /10\.244\.1\.52/);
    assert.ok(
      cp.mesh.stats().compiles - before <= 2,
      `compiles: ${cp.mesh.stats().compiles - before}`,
    );
    stream.ack(push);
    assert.ok(cp.cache.nodeIds().includes(node.id));
    stream.cancel();
    await stream.status;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(cp.cache.nodeIds().includes(node.id), false);
  });

  it("counts proxies and pushes in /metrics", async () => {
    const m = await adminGet(cp, "/metrics");
    assert.equal(m.status, 200);
    assert.match(m.body, /^trellis_cp_compiles_total [1-9]/m);
    assert.match(m.body, /^trellis_cp_snapshots_refused_total 0$/m);
  });
});

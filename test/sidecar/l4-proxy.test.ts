// L4 through two sidecars on loopback, configured only by the real control plane: a client
// connects to a TCP Service's ClusterIP; the client's sidecar (outbound) picks the db
// pod's endpoint and dials it over mTLS with its SVID; the db's sidecar (inbound)
// terminates mTLS (STRICT), checks the AuthorizationPolicy against the client's SPIFFE ID,
// and forwards to the app on 127.0.0.1. Loopback addresses stand in for the ClusterIP and
// the pod IPs, and the listeners are bound on them directly (no redirect rules here, so
// each connection's own local address is its "original destination").

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { mintWorkloadToken } from "../../control-plane/ca/index.js";
import { type ControlPlane, startControlPlane } from "../../control-plane/control-plane.js";
import { type SidecarAgent, startSidecarAgent } from "../../sidecar/agent.js";
import { validateBootstrap } from "../../sidecar/bootstrap.js";
import { ClusterPicker } from "../../sidecar/proxy/clusters.js";
import { inboundListener, outboundListener } from "../../sidecar/proxy/listeners.js";
import { TlsMaterial } from "../../sidecar/proxy/tls.js";

const PORT = 45432;
const CLUSTER_IP = "127.0.0.100";
const DB_IP = "127.0.0.3";

const pod = (ns: string, name: string, sa: string, ip: string, app: string) => `
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  labels: {app: ${app}}
  annotations: {sidecar.trellis.dev/inject: "true"}
spec:
  serviceAccountName: ${sa}
  containers: [{name: app, image: x, ports: [{containerPort: ${PORT}}]}]
status:
  podIP: ${ip}
  conditions: [{type: Ready, status: "True"}]
`;

const MESH = [
  "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}",
  "apiVersion: v1\nkind: Namespace\nmetadata: {name: data}",
  `apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec:
  clusterIP: ${CLUSTER_IP}
  selector: {app: db}
  ports: [{name: tcp-db, port: ${PORT}, targetPort: ${PORT}}]`,
  pod("data", "db-0", "db", DB_IP, "db"),
  pod("shop", "backend-0", "backend", "127.0.0.2", "backend"),
  pod("shop", "intruder-0", "intruder", "127.0.0.4", "intruder"),
  `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: data}
spec: {mtls: {mode: STRICT}}`,
  `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: db-callers, namespace: data}
spec:
  selector: {matchLabels: {app: db}}
  action: ALLOW
  rules: [{from: [{source: {principals: ["cluster.local/ns/shop/sa/backend"]}}]}]`,
].join("\n---\n");

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
}

/** Connects, writes `text`, half-closes, and collects the answer until the server's FIN. */
function roundTrip(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host, port, allowHalfOpen: true }, () => socket.end(text));
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (d) => {
      answer += d;
    });
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
  });
}

describe("L4 through two sidecars with mTLS", () => {
  let dir: string;
  let cp: ControlPlane;
  const agents: SidecarAgent[] = [];
  const servers: Server[] = [];
  const refusals: string[] = [];
  const appPeers: string[] = [];

  async function sidecar(ns: string, podName: string, sa: string, ip: string, app: string) {
    const token = await mintWorkloadToken(cp.tokenKey as never, {
      namespace: ns,
      serviceAccount: sa,
      ttlSeconds: 3600,
    });
    await writeFile(join(dir, `${podName}.token`), token);
    const agent = await startSidecarAgent({
      bootstrap: validateBootstrap({
        controlPlane: `127.0.0.1:${cp.xdsTlsPort}`,
        caRootFile: join(dir, "root.pem"),
        tokenFile: join(dir, `${podName}.token`),
        node: { namespace: ns, podName, serviceAccount: sa, podIp: ip, labels: { app } },
      }),
      adminPort: 0,
    });
    agents.push(agent);
    const deadline = Date.now() + 10_000;
    while (!agent.ready()) {
      if (Date.now() > deadline) throw new Error(`${podName}'s sidecar never got ready`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return {
      agent,
      deps: {
        xds: agent.xds,
        picker: new ClusterPicker(),
        material: new TlsMaterial(agent.identity, agent.xds),
        log: (m: string, f?: Record<string, unknown>) => refusals.push(`${m} ${JSON.stringify(f)}`),
      },
    };
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trellis-l4-"));
    await writeFile(join(dir, "mesh.yaml"), MESH);
    cp = await startControlPlane({
      configDir: dir,
      caDir: join(dir, "ca"),
      xdsPort: 0,
      xdsTlsPort: 0,
      adminPort: 0,
      debounceMs: 10,
      log: () => {},
    });
    await writeFile(join(dir, "root.pem"), cp.trustBundlePem());

    // The db app: echoes, upper-cased, once the client has finished sending (half-close).
    const app = createServer({ allowHalfOpen: true }, (s) => {
      appPeers.push(String(s.remoteAddress));
      let got = "";
      s.setEncoding("utf8");
      s.on("data", (d) => {
        got += d;
      });
      s.on("end", () => s.end(got.toUpperCase()));
    });
    await listen(app, "127.0.0.1", PORT);
    servers.push(app);

    const db = await sidecar("data", "db-0", "db", DB_IP, "db");
    const inbound = inboundListener(db.deps);
    await listen(inbound, DB_IP, PORT);
    servers.push(inbound);

    const backend = await sidecar("shop", "backend-0", "backend", "127.0.0.2", "backend");
    const outbound = outboundListener(backend.deps);
    await listen(outbound, CLUSTER_IP, PORT);
    servers.push(outbound);
  });

  after(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
    for (const a of agents) await a.close();
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("carries a connection to the ClusterIP to the app, half-close included", async () => {
    assert.equal(await roundTrip(CLUSTER_IP, PORT, "hello db"), "HELLO DB");
    assert.equal(appPeers.at(-1), "127.0.0.1", "the app sees its own sidecar");
  });

  it("STRICT: a plaintext connection straight to the pod is refused", async () => {
    const before = refusals.length;
    await assert.rejects(roundTrip(DB_IP, PORT, "plaintext"), /ECONNRESET|socket hang up/);
    assert.match(refusals.slice(before).join("\n"), /inbound connection refused .*NO_FILTER_CHAIN/);
  });

  it("AuthorizationPolicy: another identity's sidecar is refused by the db's sidecar", async () => {
    const intruder = await sidecar("shop", "intruder-0", "intruder", "127.0.0.4", "intruder");
    const before = refusals.length;
    // Its connection "was going" to the db Service: the test says so, as SO_ORIGINAL_DST would.
    const redirected = outboundListener({
      ...intruder.deps,
      destinationOf: () => ({ address: CLUSTER_IP, port: PORT, family: 4 }),
    });
    await listen(redirected, "127.0.0.5", 0);
    servers.push(redirected);
    const answer = await roundTrip(
      "127.0.0.5",
      (redirected.address() as { port: number }).port,
      "let me in",
    ).catch((e: Error) => e.message);
    assert.notEqual(answer, "LET ME IN");
    const deadline = Date.now() + 2_000;
    while (
      !refusals.slice(before).some((r) => r.includes("RBAC_DENIED")) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.match(
      refusals.slice(before).join("\n"),
      /RBAC_DENIED.*spiffe:\/\/cluster.local\/ns\/shop\/sa\/intruder to port 45432/,
    );
  });
});

// L4 through two sidecars on loopback, configured only by the real control plane: a client
// connects to a TCP Service's ClusterIP; the client's sidecar (outbound) picks the db
// pod's endpoint and dials it over mTLS with its SVID; the db's sidecar (inbound)
// terminates mTLS (STRICT), checks the AuthorizationPolicy against the client's SPIFFE ID,
// and forwards to the app on 127.0.0.1. Loopback addresses stand in for the ClusterIP and
// the pod IPs, and the listeners are bound on them directly (no redirect rules here, so
// each connection's own local address is its "original destination").

import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { inboundListener, outboundListener } from "../../sidecar/proxy/listeners.js";
import { TestMesh } from "../helpers/mesh.js";

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
  let mesh: TestMesh;
  const appPeers: string[] = [];
  let backendAdmin = 0;

  before(async () => {
    mesh = await TestMesh.start(MESH);
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
    await mesh.listen(app, "127.0.0.1", PORT);
    const db = await mesh.sidecar({
      namespace: "data",
      name: "db-0",
      serviceAccount: "db",
      ip: DB_IP,
      app: "db",
    });
    await mesh.listen(inboundListener(db), DB_IP, PORT);
    const backend = await mesh.sidecar({
      namespace: "shop",
      name: "backend-0",
      serviceAccount: "backend",
      ip: "127.0.0.2",
      app: "backend",
    });
    await mesh.listen(outboundListener(backend), CLUSTER_IP, PORT);
    backendAdmin = backend.agent.adminPort;
  });

  after(() => mesh?.close());

  it("carries a connection to the ClusterIP to the app, half-close included", async () => {
    assert.equal(await roundTrip(CLUSTER_IP, PORT, "hello db"), "HELLO DB");
    assert.equal(appPeers.at(-1), "127.0.0.1", "the app sees its own sidecar");
    // The close is counted once both sides of the pipe are done, just after the answer.
    let stats = "";
    const value = (name: string) =>
      stats
        .split("\n")
        .filter(
          (l) =>
            l.startsWith(`${name}{`) &&
            l.includes('destination_service="db.data.svc.cluster.local"'),
        )
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    for (let i = 0; i < 100 && value("istio_tcp_connections_closed_total") === 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 20));
      stats = await (await fetch(`http://127.0.0.1:${backendAdmin}/stats/prometheus`)).text();
    }
    assert.equal(value("istio_tcp_connections_opened_total"), 1);
    assert.equal(value("istio_tcp_connections_closed_total"), 1);
    assert.equal(value("istio_tcp_sent_bytes_total"), "hello db".length);
    assert.equal(value("istio_tcp_received_bytes_total"), "HELLO DB".length);
  });

  it("STRICT: a plaintext connection straight to the pod is refused", async () => {
    const before = mesh.logs.length;
    await assert.rejects(roundTrip(DB_IP, PORT, "plaintext"), /ECONNRESET|socket hang up/);
    assert.match(
      mesh.logs.slice(before).join("\n"),
      /inbound connection refused .*NO_FILTER_CHAIN/,
    );
  });

  it("AuthorizationPolicy: another identity's sidecar is refused by the db's sidecar", async () => {
    const intruder = await mesh.sidecar({
      namespace: "shop",
      name: "intruder-0",
      serviceAccount: "intruder",
      ip: "127.0.0.4",
      app: "intruder",
    });
    const before = mesh.logs.length;
    // Its connection "was going" to the db Service: the test says so, as SO_ORIGINAL_DST would.
    const redirected = await mesh.listen(
      outboundListener({
        ...intruder,
        destinationOf: () => ({ address: CLUSTER_IP, port: PORT, family: 4 }),
      }),
      "127.0.0.5",
      0,
    );
    const answer = await roundTrip(
      "127.0.0.5",
      (redirected.address() as { port: number }).port,
      "let me in",
    ).catch((e: Error) => e.message);
    assert.notEqual(answer, "LET ME IN");
    const deadline = Date.now() + 2_000;
    while (
      !mesh.logs.slice(before).some((r) => r.includes("RBAC_DENIED")) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.match(
      mesh.logs.slice(before).join("\n"),
      /RBAC_DENIED.*spiffe:\/\/cluster.local\/ns\/shop\/sa\/intruder to port 45432/,
    );
  });
});

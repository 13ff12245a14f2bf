// Circuit breaking end to end on loopback: Services annotated trellis.dev/circuit-breaker,
// configured only by the real control plane, behind a client's sidecar. HTTP/1.1 with
// maxConnections=1 and maxPendingRequests=1 to a backend that holds its responses: the
// second concurrent request waits for the one connection, the third gets 503 with
// x-envoy-overloaded, and once the backend answers the waiting request goes out on the
// same connection and new requests succeed. TCP with maxConnections=1: a second
// connection is refused (reset, counted, logged as OVERFLOW), and one after the first has
// closed gets through. The backends have no sidecar, so the client's sidecar dials them.

import assert from "node:assert/strict";
import { request as httpRequest, createServer as httpServer, type ServerResponse } from "node:http";
import { connect, type Socket, createServer as tcpServer } from "node:net";
import { after, before, describe, it } from "node:test";
import type { CircuitBreakers } from "../../sidecar/proxy/circuit-breakers.js";
import { outboundListener } from "../../sidecar/proxy/listeners.js";
import { TestMesh } from "../helpers/mesh.js";

const HTTP = { ip: "127.0.0.211", port: 47111, pod: "127.0.0.41" };
const TCP = { ip: "127.0.0.212", port: 47112, pod: "127.0.0.42" };
const HTTP_CLUSTER = `outbound|${HTTP.port}||held.shop.svc.cluster.local`;
const TCP_CLUSTER = `outbound|${TCP.port}||capped.shop.svc.cluster.local`;

const service = (name: string, s: typeof HTTP, port: string, limits: string) => `---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: shop
  annotations: {trellis.dev/circuit-breaker: "${limits}"}
spec:
  clusterIP: ${s.ip}
  selector: {app: ${name}}
  ports: [{name: ${port}, port: ${s.port}, targetPort: ${s.port}}]
`;
const pod = (name: string, app: string, ip: string, port: number, sidecar: boolean) => `---
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: shop
  labels: {app: ${app}}
  annotations: {sidecar.trellis.dev/inject: "${sidecar}"}
spec:
  serviceAccountName: ${app}
  containers: [{name: app, image: x, ports: [{containerPort: ${port}}]}]
status:
  podIP: ${ip}
  conditions: [{type: Ready, status: "True"}]
`;
const MESH = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
${service("held", HTTP, "http", "maxConnections=1, maxPendingRequests=1")}${service("capped", TCP, "tcp-echo", "maxConnections=1")}${pod("held-0", "held", HTTP.pod, HTTP.port, false)}${pod("capped-0", "capped", TCP.pod, TCP.port, false)}${pod("client-0", "client", "127.0.0.40", 1, true)}`;

interface Reply {
  status: number;
  body: string;
  headers: Record<string, unknown>;
}

function get(path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: HTTP.ip, port: HTTP.port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A connection through the sidecar that has echoed `text`: its upstream is connected. */
function echoing(text: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: TCP.ip, port: TCP.port }, () => socket.write(text));
    socket.setEncoding("utf8");
    let got = "";
    const onData = (d: string) => {
      got += d;
      if (got === text) {
        socket.off("data", onData);
        resolve(socket);
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.once("close", () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
  });
}

describe("circuit breaking through the sidecar: max_connections, max_pending_requests", {
  timeout: 30_000,
}, () => {
  let mesh: TestMesh;
  let breakers: CircuitBreakers;
  /** The HTTP backend's held responses, the paths it saw, and its connections. */
  const held: ServerResponse[] = [];
  const paths: string[] = [];
  let connections = 0;
  let hold = true;

  before(async () => {
    mesh = await TestMesh.start(MESH);
    const app = httpServer((req, res) => {
      paths.push(req.url ?? "");
      if (hold) held.push(res);
      else res.end(`answered ${req.url}`);
    });
    app.on("connection", () => connections++);
    await mesh.listen(app, HTTP.pod, HTTP.port);
    await mesh.listen(
      tcpServer((s) => s.pipe(s)),
      TCP.pod,
      TCP.port,
    );
    const client = await mesh.sidecar({
      namespace: "shop",
      name: "client-0",
      serviceAccount: "client",
      ip: "127.0.0.40",
      app: "client",
    });
    // The listeners share the pools' circuit breakers (no breakers of their own given).
    breakers = (client.pools as NonNullable<typeof client.pools>).breakers;
    await mesh.listen(outboundListener(client), HTTP.ip, HTTP.port);
    await mesh.listen(outboundListener(client), TCP.ip, TCP.port);
  });

  after(async () => {
    for (const res of held.splice(0)) res.end();
    await mesh?.close();
  });

  it("HTTP/1.1: one connection busy, one request waits for it, the next is 503 overloaded", async () => {
    const first = get("/1");
    await until("the first request at the backend", () => paths.length === 1);
    const second = get("/2");
    await until("the second request to wait", () => breakers.pending(HTTP_CLUSTER) === 1);

    const third = await get("/3");
    assert.equal(third.status, 503, third.body);
    assert.equal(third.headers["x-envoy-overloaded"], "true");
    assert.equal(third.headers["x-trellis-error"], "OVERFLOW");
    assert.match(
      third.body,
      /cluster outbound\|47111\|\|held\.shop\.svc\.cluster\.local has 1 request waiting for a connection, its max_pending_requests/,
    );
    assert.deepEqual(paths, ["/1"], "the waiting request did not get a second connection");

    held.shift()?.end("one");
    assert.deepEqual([(await first).status, (await first).body], [200, "one"]);
    await until("the waiting request at the backend", () => paths.length === 2);
    held.shift()?.end("two");
    assert.deepEqual([(await second).status, (await second).body], [200, "two"]);
    assert.equal(connections, 1, "both went over the one connection max_connections allows");
    assert.deepEqual(breakers.stats(HTTP_CLUSTER), {
      connections: 1,
      pendingRequests: 0,
      requests: 0,
      overflows: { max_connections: 1, max_pending_requests: 1, max_requests: 0 },
    });

    // The load gone, requests go through again, one after another on that connection.
    hold = false;
    for (const path of ["/4", "/5", "/6"]) {
      const reply = await get(path);
      assert.deepEqual([reply.status, reply.body], [200, `answered ${path}`]);
    }
    assert.equal(connections, 1);
  });

  it("TCP: a connection past max_connections is refused, counted and logged", async () => {
    const first = await echoing("first");
    assert.equal(breakers.connections(TCP_CLUSTER), 1);
    const before = mesh.logs.length;
    await assert.rejects(echoing("second"), /ECONNRESET|closed after ""/);
    await until("the refusal in the log", () =>
      mesh.logs.slice(before).some((l) => l.includes("OVERFLOW")),
    );
    assert.match(
      mesh.logs.slice(before).join("\n"),
      /outbound connection refused .*"code":"OVERFLOW".*cluster outbound\|47112\|\|capped\.shop\.svc\.cluster\.local has 1 connection open, its max_connections/,
    );
    assert.equal(breakers.stats(TCP_CLUSTER).overflows.max_connections, 1);

    // The first still works; once it has closed, a new connection gets through.
    first.write("!");
    await new Promise((resolve) => first.once("data", resolve));
    first.end();
    await until("the first connection closed", () => breakers.connections(TCP_CLUSTER) === 0);
    const third = await echoing("third");
    third.end();
  });
});

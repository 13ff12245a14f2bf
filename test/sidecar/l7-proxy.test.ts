// L7 through two sidecars on loopback, configured only by the real control plane: HTTP/1.1,
// HTTP/2 (h2c from the app) and gRPC from a client app to Services' ClusterIPs; between the
// sidecars one HTTP/2 connection over mTLS; the server's sidecar applies the
// AuthorizationPolicy per request and forwards to its app. An HTTPRoute retry policy turns
// a backend failing every other request into all successes, and errors come back as the
// statuses (and grpc-status) of one mapping. As in l4-proxy.test.ts, loopback addresses
// stand in for ClusterIPs and pod IPs, with the listeners bound on them directly.

import assert from "node:assert/strict";
import { createServer as createHttpServer, request as httpRequest } from "node:http";
import { connect as h2Connect } from "node:http2";
import type { Server } from "node:net";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { inboundListener, outboundListener } from "../../sidecar/proxy/listeners.js";
import { TestMesh } from "../helpers/mesh.js";

const WEB = { port: 48080, clusterIP: "127.0.0.110", podIP: "127.0.0.11" };
const GREETER = { port: 49090, clusterIP: "127.0.0.120", podIP: "127.0.0.12" };
const FLAKY = { port: 48081, clusterIP: "127.0.0.130", podIP: "127.0.0.13" };
const CLIENT_IP = "127.0.0.10";

const service = (name: string, s: typeof WEB, portName: string) => `---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec:
  clusterIP: ${s.clusterIP}
  selector: {app: ${name}}
  ports: [{name: ${portName}, port: ${s.port}, targetPort: ${s.port}}]
`;
const pod = (name: string, app: string, ip: string, port: number) => `---
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: shop
  labels: {app: ${app}}
  annotations: {sidecar.trellis.dev/inject: "true"}
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
${service("web", WEB, "http")}${service("greeter", GREETER, "grpc")}${service("flaky", FLAKY, "http")}${pod("web-0", "web", WEB.podIP, WEB.port)}${pod("greeter-0", "greeter", GREETER.podIP, GREETER.port)}${pod("flaky-0", "flaky", FLAKY.podIP, FLAKY.port)}${pod("client-0", "client", CLIENT_IP, 1)}---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: web-readers, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  action: ALLOW
  rules:
    - from: [{source: {principals: ["cluster.local/ns/shop/sa/client"]}}]
      to: [{operation: {methods: ["GET"], paths: ["/api/*"]}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: flaky-retries, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: flaky, port: ${FLAKY.port}}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /retry}}]
      backendRefs: [{name: flaky, port: ${FLAKY.port}}]
      retry: {attempts: 3, backoff: 1ms, codes: [503]}
    - backendRefs: [{name: flaky, port: ${FLAKY.port}}]
`;

function get(
  host: string,
  port: number,
  path: string,
  method = "GET",
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, method, headers, agent: false }, (res) => {
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

const identity = (b: Buffer) => b;
/** A unary method on raw bytes: the test needs no protobuf for its greetings. */
const unary = (path: string) => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});
const GREETER_SERVICE = {
  Hello: unary("/test.Greeter/Hello"),
  Fail: unary("/test.Greeter/Fail"),
} satisfies grpc.ServiceDefinition;

describe("L7 through two sidecars with mTLS", { timeout: 30_000 }, () => {
  let mesh: TestMesh;
  const webSeen: { protocol: string; path: string; from: string; traceparent: string }[] = [];
  let flakyCalls = 0;
  let grpcServer: grpc.Server | undefined;
  const inbounds = new Map<string, Server>();
  let clientAgent: { adminPort: number } = { adminPort: 0 };
  let webAgent: { adminPort: number } = { adminPort: 0 };

  before(async () => {
    mesh = await TestMesh.start(MESH);
    const web = createHttpServer((req, res) => {
      webSeen.push({
        protocol: req.httpVersion,
        path: req.url ?? "",
        from: String(req.socket.remoteAddress),
        traceparent: String(req.headers.traceparent ?? ""),
      });
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ pod: "web-0", path: req.url }));
    });
    await mesh.listen(web, "127.0.0.1", WEB.port);
    const flaky = createHttpServer((req, res) => {
      flakyCalls++;
      res.statusCode = flakyCalls % 2 === 1 ? 503 : 200;
      res.end(res.statusCode === 200 ? "ok" : "try again");
      void req;
    });
    await mesh.listen(flaky, "127.0.0.1", FLAKY.port);
    grpcServer = new grpc.Server();
    grpcServer.addService(GREETER_SERVICE, {
      Hello: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, Buffer.from(`hello ${call.request.toString()}`)),
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb({ code: grpc.status.NOT_FOUND, details: "no such greeting" }),
    });
    await new Promise<void>((resolve, reject) =>
      grpcServer?.bindAsync(
        `127.0.0.1:${GREETER.port}`,
        grpc.ServerCredentials.createInsecure(),
        (e) => (e ? reject(e) : resolve()),
      ),
    );

    for (const [name, s] of [
      ["web-0", WEB],
      ["greeter-0", GREETER],
      ["flaky-0", FLAKY],
    ] as const) {
      const app = name.replace("-0", "");
      const deps = await mesh.sidecar({
        namespace: "shop",
        name,
        serviceAccount: app,
        ip: s.podIP,
        app,
      });
      inbounds.set(name, await mesh.listen(inboundListener(deps), s.podIP, s.port));
      if (name === "web-0") webAgent = deps.agent;
    }
    const client = await mesh.sidecar({
      namespace: "shop",
      name: "client-0",
      serviceAccount: "client",
      ip: CLIENT_IP,
      app: "client",
    });
    clientAgent = client.agent;
    for (const s of [WEB, GREETER, FLAKY])
      await mesh.listen(outboundListener(client), s.clusterIP, s.port);
  });

  after(async () => {
    grpcServer?.forceShutdown();
    await mesh?.close();
  });

  it("HTTP/1.1: the app's request reaches the web pod, HTTP/2 over mTLS between the sidecars", async () => {
    const res = await get(WEB.clusterIP, WEB.port, "/api/items?x=1").catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs.join("\n")}`);
    });
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(JSON.parse(res.body), { pod: "web-0", path: "/api/items?x=1" });
    assert.equal(webSeen.at(-1)?.from, "127.0.0.1", "the app sees its own sidecar");
    // Five at once: an HTTP/1.1 pool would need five connections; HTTP/2 multiplexes them.
    const concurrent = await Promise.all(
      Array.from({ length: 5 }, () => get(WEB.clusterIP, WEB.port, "/api/again")),
    );
    assert.deepEqual(
      concurrent.map((r) => r.status),
      [200, 200, 200, 200, 200],
    );
    const connections = await new Promise<number>((resolve, reject) =>
      inbounds.get("web-0")?.getConnections((err, n) => (err ? reject(err) : resolve(n))),
    );
    assert.equal(
      connections,
      1,
      "six requests, six client connections, one connection between the sidecars",
    );
  });

  it("HTTP/2 (h2c from the app) works the same way", async () => {
    const session = h2Connect(`http://${WEB.clusterIP}:${WEB.port}`);
    try {
      const { status, body } = await new Promise<{ status: number; body: string }>(
        (resolve, reject) => {
          const stream = session.request({ ":path": "/api/h2" });
          let status = 0;
          let body = "";
          stream.on("response", (h) => {
            status = Number(h[":status"]);
          });
          stream.setEncoding("utf8");
          stream.on("data", (d) => {
            body += d;
          });
          stream.on("end", () => resolve({ status, body }));
          stream.on("error", reject);
          stream.end();
        },
      );
      assert.equal(status, 200, body);
      assert.equal(JSON.parse(body).path, "/api/h2");
    } finally {
      session.close();
    }
  });

  it("gRPC: a unary call and its error status pass through, trailers and all", async () => {
    const Client = grpc.makeGenericClientConstructor(GREETER_SERVICE, "Greeter");
    const client = new Client(
      `${GREETER.clusterIP}:${GREETER.port}`,
      grpc.credentials.createInsecure(),
    );
    try {
      type Unary = (arg: Buffer, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => void;
      const methods = client as unknown as Record<"Hello" | "Fail", Unary>;
      const call = (method: "Hello" | "Fail") =>
        new Promise<Buffer>((resolve, reject) =>
          methods[method].call(client, Buffer.from("mesh"), (err, res) =>
            err ? reject(err) : resolve(res as Buffer),
          ),
        );
      assert.equal((await call("Hello")).toString(), "hello mesh");
      await assert.rejects(call("Fail"), (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.NOT_FOUND);
        assert.equal(e.details, "no such greeting");
        return true;
      });
    } finally {
      client.close();
    }
  });

  it("carries the app's trace on, with a span of its own at each sidecar", async () => {
    const trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    const span = "00f067aa0ba902b7";
    const res = await get(WEB.clusterIP, WEB.port, "/api/traced", "GET", {
      traceparent: `00-${trace}-${span}-01`,
    });
    assert.equal(res.status, 200);
    const seen = webSeen.at(-1)?.traceparent ?? "";
    const [, traceId, spanId, flags] = seen.split("-");
    assert.equal(traceId, trace, "the same trace");
    assert.notEqual(spanId, span, "the server side's span, not the app's");
    assert.equal(flags, "01");
  });

  it("AuthorizationPolicy per request: GET /api/* allowed, POST and other paths 403", async () => {
    assert.equal((await get(WEB.clusterIP, WEB.port, "/api/ok")).status, 200);
    const post = await get(WEB.clusterIP, WEB.port, "/api/ok", "POST");
    assert.equal(post.status, 403);
    assert.equal(post.headers["x-trellis-error"], "RBAC_DENIED");
    assert.equal((await get(WEB.clusterIP, WEB.port, "/admin")).status, 403);
  });

  it("retries turn a backend failing every other request into all successes", async () => {
    flakyCalls = 0;
    const results = [];
    for (let i = 0; i < 20; i++)
      results.push((await get(FLAKY.clusterIP, FLAKY.port, "/retry")).status);
    assert.deepEqual(new Set(results), new Set([200]));
    assert.equal(flakyCalls, 40, "each request took two attempts");
    flakyCalls = 0;
    const without = [];
    for (let i = 0; i < 20; i++)
      without.push((await get(FLAKY.clusterIP, FLAKY.port, "/plain")).status);
    assert.equal(without.filter((s) => s === 503).length, 10, "no retry policy on this route");
  });

  it("counts requests in Istio's metrics on both sides, mTLS and identities included", async () => {
    const stats = async (agent: { adminPort: number }) =>
      (await fetch(`http://127.0.0.1:${agent.adminPort}/stats/prometheus`)).text();
    const metric = (text: string, labels: Record<string, string>) => {
      const lines = text.split("\n").filter((l) => l.startsWith("istio_requests_total{"));
      const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      return lines
        .filter((l) => want.every((w) => l.includes(w)))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    };
    const client = await stats(clientAgent);
    assert.ok(
      metric(client, {
        reporter: "source",
        source_workload: "client",
        destination_service: "web.shop.svc.cluster.local",
        response_code: "200",
      }) >= 6,
      client,
    );
    assert.equal(
      metric(client, { destination_service: "web.shop.svc.cluster.local", response_code: "403" }),
      2,
    );
    assert.ok(
      metric(client, { destination_service_name: "greeter", grpc_response_status: "5" }) === 1,
      "the failing gRPC call, by its grpc-status",
    );
    const web = await stats(webAgent);
    assert.equal(
      metric(web, {
        reporter: "destination",
        source_principal: "spiffe://cluster.local/ns/shop/sa/client",
        destination_workload: "web",
        connection_security_policy: "mutual_tls",
        response_code: "403",
        response_flags: "RBAC_DENIED",
      }),
      2,
    );
    assert.match(web, /istio_request_duration_milliseconds_bucket\{.*le="\+Inf"\} \d+/);
  });

  it("certificate rotation under load drops no request", async () => {
    // A second client whose SVID lives 10 s: it renews at about 5 s, mid-traffic.
    const rotating = await mesh.sidecar(
      {
        namespace: "shop",
        name: "client-1",
        serviceAccount: "client",
        ip: "127.0.0.14",
        app: "client",
      },
      { svidTtl: "10s" },
    );
    // Its connections "were going" to the web Service, as SO_ORIGINAL_DST would say.
    const redirected = await mesh.listen(
      outboundListener({
        ...rotating,
        destinationOf: () => ({ address: WEB.clusterIP, port: WEB.port, family: 4 }),
      }),
      "127.0.0.15",
      0,
    );
    const target = (redirected.address() as { port: number }).port;
    const statuses: number[] = [];
    const deadline = Date.now() + 15_000;
    while (rotating.agent.identity.rotations === 0 || statuses.length < 50) {
      if (Date.now() > deadline) throw new Error("no rotation within 15 s");
      const batch = await Promise.all(
        Array.from({ length: 5 }, () => get("127.0.0.15", target, "/api/rotating")),
      );
      statuses.push(...batch.map((r) => r.status));
    }
    // And some after it, on the new certificate.
    for (let i = 0; i < 10; i++)
      statuses.push((await get("127.0.0.15", target, "/api/after")).status);
    assert.equal(rotating.agent.identity.rotations >= 1, true);
    assert.deepEqual(new Set(statuses), new Set([200]), `${statuses.length} requests`);
  });

  // Last: it takes the control plane away.
  it("keeps routing on its last config while the control plane is gone", async () => {
    await mesh.controlPlane.close();
    for (let i = 0; i < 3; i++) {
      assert.equal((await get(WEB.clusterIP, WEB.port, "/api/still")).status, 200);
    }
    assert.equal((await get(WEB.clusterIP, WEB.port, "/admin")).status, 403, "and enforcing it");
  });
});

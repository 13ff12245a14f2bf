// Ring hash end to end on loopback: Services annotated trellis.dev/lb-policy RING_HASH with
// trellis.dev/hash-on, three pods each, configured only by the real control plane. Through
// a client's sidecar, requests with one x-user header value all reach one pod and
// different values spread over the pods (without the header, a random point each time);
// with source-ip, each client address sticks to one pod, for HTTP routes and for the TCP
// proxy alike. The client binds its sockets to different 127.0.0.x addresses to be
// different sources. The pods have no sidecar, so each answers on its own address with
// its name.

import assert from "node:assert/strict";
import { request as httpRequest, createServer as httpServer } from "node:http";
import { connect, createServer as tcpServer } from "node:net";
import { after, before, describe, it } from "node:test";
import { outboundListener } from "../../sidecar/proxy/listeners.js";
import { TestMesh } from "../helpers/mesh.js";

const HTTP_PORT = 47101;
const TCP_PORT = 47102;
const PODS = ["127.0.0.21", "127.0.0.22", "127.0.0.23"];
const BY_HEADER = "127.0.0.201";
const BY_SOURCE = "127.0.0.202";
const TCP_BY_SOURCE = "127.0.0.203";
/** Client addresses, one per "client". */
const SOURCES = Array.from({ length: 12 }, (_, i) => `127.0.0.${60 + i}`);

const service = (name: string, ip: string, port: string, hashOn: string) => `---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: shop
  annotations: {trellis.dev/lb-policy: RING_HASH, trellis.dev/hash-on: "${hashOn}"}
spec:
  clusterIP: ${ip}
  selector: {app: sticky}
  ports: [${port}]
`;
const pod = (name: string, ip: string, sidecar: boolean) => `---
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: shop
  labels: {app: ${sidecar ? "client" : "sticky"}}
  annotations: {sidecar.trellis.dev/inject: "${sidecar}"}
spec:
  serviceAccountName: ${sidecar ? "client" : "sticky"}
  containers: [{name: app, image: x, ports: [{containerPort: ${HTTP_PORT}}, {containerPort: ${TCP_PORT}}]}]
status:
  podIP: ${ip}
  conditions: [{type: Ready, status: "True"}]
`;
const HTTP = `{name: http, port: ${HTTP_PORT}, targetPort: ${HTTP_PORT}}`;
const MESH = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
${service("by-user", BY_HEADER, HTTP, "header:X-User")}${service("by-client", BY_SOURCE, HTTP, "source-ip")}${service("tcp-by-client", TCP_BY_SOURCE, `{name: tcp-echo, port: ${TCP_PORT}, targetPort: ${TCP_PORT}}`, "source-ip")}${PODS.map((ip, i) => pod(`sticky-${i}`, ip, false)).join("")}${pod("client-0", "127.0.0.20", true)}`;

/** The name of the pod that answered a GET. */
function whoAnswers(
  host: string,
  headers: Record<string, string> = {},
  localAddress?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host, port: HTTP_PORT, path: "/", headers, agent: false, localAddress },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`${res.statusCode} ${body}`)),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** The name the pod behind a TCP connection from `localAddress` sends. */
function whoAnswersTcp(localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: TCP_BY_SOURCE, port: TCP_PORT, localAddress });
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (d) => {
      answer += d;
    });
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
  });
}

describe("ring hash through the sidecar, keyed by the route's or the tcp_proxy's hash policy", {
  timeout: 30_000,
}, () => {
  let mesh: TestMesh;

  before(async () => {
    mesh = await TestMesh.start(MESH);
    for (const [i, ip] of PODS.entries()) {
      await mesh.listen(
        httpServer((_req, res) => res.end(`sticky-${i}`)),
        ip,
        HTTP_PORT,
      );
      await mesh.listen(
        tcpServer((s) => s.end(`sticky-${i}`)),
        ip,
        TCP_PORT,
      );
    }
    const client = await mesh.sidecar({
      namespace: "shop",
      name: "client-0",
      serviceAccount: "client",
      ip: "127.0.0.20",
      app: "client",
    });
    for (const ip of [BY_HEADER, BY_SOURCE])
      await mesh.listen(outboundListener(client), ip, HTTP_PORT);
    await mesh.listen(outboundListener(client), TCP_BY_SOURCE, TCP_PORT);
  });

  after(() => mesh?.close());

  it("header: one x-user value always reaches one pod; different values spread", async () => {
    const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    const podOf = new Map<string, Set<string>>();
    for (const user of users) {
      const answers = await Promise.all(
        Array.from({ length: 4 }, () => whoAnswers(BY_HEADER, { "x-user": user })),
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${mesh.logs.join("\n")}`);
      });
      podOf.set(user, new Set(answers));
    }
    for (const [user, pods] of podOf) assert.equal(pods.size, 1, `${user} reached ${[...pods]}`);
    const used = new Set([...podOf.values()].flatMap((p) => [...p]));
    assert.ok(used.size >= 2, `20 users all on ${[...used]}`);
  });

  it("header absent: a random point per request, so requests spread", async () => {
    const answers = new Set<string>();
    for (let i = 0; i < 30; i++) answers.add(await whoAnswers(BY_HEADER));
    assert.ok(answers.size >= 2, `30 requests without x-user all reached ${[...answers]}`);
  });

  it("source-ip over HTTP: each client address sticks to one pod; addresses spread", async () => {
    const used = new Set<string>();
    for (const source of SOURCES) {
      const answers = new Set<string>();
      for (let i = 0; i < 3; i++) answers.add(await whoAnswers(BY_SOURCE, {}, source));
      assert.equal(answers.size, 1, `${source} reached ${[...answers]}`);
      used.add([...answers][0] as string);
    }
    assert.ok(used.size >= 2, `${SOURCES.length} client addresses all on ${[...used]}`);
  });

  it("source-ip over TCP: the tcp_proxy sticks each client address to one pod", async () => {
    const used = new Set<string>();
    for (const source of SOURCES) {
      const answers = new Set<string>();
      for (let i = 0; i < 3; i++) answers.add(await whoAnswersTcp(source));
      assert.equal(answers.size, 1, `${source} reached ${[...answers]}`);
      used.add([...answers][0] as string);
    }
    assert.ok(used.size >= 2, `${SOURCES.length} client addresses all on ${[...used]}`);
  });
});

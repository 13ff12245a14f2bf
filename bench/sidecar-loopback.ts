// `npm run bench -- sidecar-loopback`: a first, closed-loop look at what two sidecars add
// to one HTTP/1.1 call, on loopback in one process (the control plane, both sidecars, the
// client and the server share it, so the CPU figure is everything's). Sequential 1 KiB
// POSTs on one keep-alive connection, direct to the server and then through client
// sidecar → mTLS (HTTP/2) → server sidecar; p50/p90/p99 of each, the added latency, and
// the process's CPU per 1,000 requests. The issue's `dataplane` benchmark (open-loop load,
// HAProxy as the peer, per-sidecar CPU and RSS) is still to come.

import { Agent, createServer, request } from "node:http";
import { parseArgs } from "node:util";
import { inboundListener, outboundListener } from "../sidecar/proxy/listeners.js";
import { TestMesh } from "../test/helpers/mesh.js";

const PORT = 48_090;
const CLUSTER_IP = "127.0.0.110";
const POD_IP = "127.0.0.11";

const MESH = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: ${CLUSTER_IP}
  selector: {app: web}
  ports: [{name: http, port: ${PORT}, targetPort: ${PORT}}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}, annotations: {sidecar.trellis.dev/inject: "true"}}
spec: {serviceAccountName: web, containers: [{name: app, image: x, ports: [{containerPort: ${PORT}}]}]}
status: {podIP: ${POD_IP}, conditions: [{type: Ready, status: "True"}]}
`;

interface Latencies {
  p50: number;
  p90: number;
  p99: number;
  seconds: number;
}

async function sequential(host: string, n: number, body: string): Promise<Latencies> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const lat: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise<void>((resolve, reject) => {
      const r = request({ host, port: PORT, path: "/x", method: "POST", agent }, (res) => {
        res.resume();
        res.on("end", () => resolve());
      });
      r.on("error", reject);
      r.end(body);
    });
    lat.push(performance.now() - t);
  }
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  lat.sort((a, b) => a - b);
  const at = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? Number.NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), seconds };
}

export async function benchSidecarLoopback(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { requests: { type: "string", default: "3000" } },
  });
  const n = Number(values.requests);
  const body = "x".repeat(1024);
  const mesh = await TestMesh.start(MESH);
  try {
    const app = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.end(body));
    });
    await mesh.listen(app, "127.0.0.1", PORT);
    const pod = { namespace: "shop", name: "web-0", serviceAccount: "web", ip: POD_IP, app: "web" };
    await mesh.listen(inboundListener(await mesh.sidecar(pod)), POD_IP, PORT);
    const client = await mesh.sidecar({
      ...pod,
      name: "client-0",
      serviceAccount: "client",
      ip: "127.0.0.10",
      app: "client",
    });
    await mesh.listen(outboundListener(client), CLUSTER_IP, PORT);

    await sequential("127.0.0.1", 300, body); // warm-up
    await sequential(CLUSTER_IP, 300, body);
    const direct = await sequential("127.0.0.1", n, body);
    const cpu = process.cpuUsage();
    const meshed = await sequential(CLUSTER_IP, n, body);
    const used = process.cpuUsage(cpu);
    const ms = (v: number) => `${v.toFixed(3)} ms`;
    console.log(
      `bench sidecar-loopback: node ${process.version}; ${n} sequential 1 KiB HTTP/1.1 POSTs on one keep-alive connection`,
    );
    console.log(
      `  direct            p50 ${ms(direct.p50)}  p90 ${ms(direct.p90)}  p99 ${ms(direct.p99)}`,
    );
    console.log(
      `  through 2 sidecars p50 ${ms(meshed.p50)}  p90 ${ms(meshed.p90)}  p99 ${ms(meshed.p99)}`,
    );
    console.log(
      `  added by the pair: p50 ${ms(meshed.p50 - direct.p50)}, p99 ${ms(meshed.p99 - direct.p99)} (goal: p99 ≤ 0.5 ms, Istio 1.20 publishes +0.30 ms for Envoy); ratio p99 ${(meshed.p99 / direct.p99).toFixed(1)}×`,
    );
    console.log(
      `  ${(n / meshed.seconds).toFixed(0)} requests/s sequentially; ${(((used.user + used.system) / 1e6) * (1000 / n)).toFixed(3)} CPU s per 1,000 requests for the whole process (both sidecars, client, server, control plane; goal 0.20 vCPU per 1,000 rps per sidecar)`,
    );
    return 0;
  } finally {
    await mesh.close();
  }
}

// Conformance with a real, independent xDS client: @grpc/grpc-js-xds, configured only by
// `trellis control-plane` (the CLI, as a child process) from a --config directory of YAML.
// gRPC servers on 127.0.0.2-5 stand in for the endpoints of selectorless Services whose
// EndpointSlices are in the config. The client dials xds:///<svc>.shop.svc.cluster.local:9000
// and must: reach every endpoint; honour a weighted GRPCRoute split within statistical
// bounds; succeed against a flaky backend once a retry policy is added; stop sending to an
// endpoint removed from the config; and keep working on its old config when an update
// makes it NACK (the NACK shows in /debug/connections).

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { TypeUrl } from "../../api/xds-proto.js";
import type { ConnectionInfo } from "../../control-plane/xds/stream-state.js";

const TRELLIS = join(import.meta.dirname, "..", "..", "..", "bin", "trellis.js");
const NODE_ID = "grpc-client~shop";
const HOST = (svc: string) => `xds:///${svc}.shop.svc.cluster.local:9000`;

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

interface Backend {
  readonly ip: string;
  readonly port: number;
  readonly server: grpc.Server;
  hits: number;
}

/** An echo server on ip:port that names itself; `flaky` fails every other call. */
async function startBackend(ip: string, port: number, flaky = false): Promise<Backend> {
  const server = new grpc.Server();
  let hits = 0;
  server.addService(ECHO, {
    Echo: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      backend.hits = ++hits;
      if (flaky && hits % 2 === 1) {
        cb({ code: grpc.status.UNAVAILABLE, details: `${ip} is flaky` });
      } else {
        cb(null, { ip });
      }
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${ip}:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const backend: Backend = { ip, port: bound, server, hits: 0 };
  return backend;
}

const service = (name: string, annotations: Record<string, string> = {}) => `
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: shop
  annotations: ${JSON.stringify(annotations)}
spec:
  ports: [{name: grpc, port: 9000, appProtocol: grpc}]
`;

const slice = (svc: string, port: number, ips: readonly string[]) => `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${svc}-manual
  namespace: shop
  labels: {kubernetes.io/service-name: ${svc}}
addressType: IPv4
ports: [{name: grpc, port: ${port}, protocol: TCP}]
endpoints:
${ips.map((ip) => `  - addresses: ["${ip}"]\n    conditions: {ready: true}`).join("\n")}
`;

const split = (v1: number, v2: number) => `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: backend-split, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: backend, port: 9000}]
  rules:
    - backendRefs:
        - {name: backend-v1, port: 9000, weight: ${v1}}
        - {name: backend-v2, port: 9000, weight: ${v2}}
`;

const retry = `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: flaky-retry, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: flaky, port: 9000}]
  rules:
    - backendRefs: [{name: flaky, port: 9000}]
      retry: {attempts: 3, codes: [UNAVAILABLE], backoff: 5ms}
`;

type EchoClient = grpc.Client & {
  Echo(
    req: unknown,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, r?: { ip: string }) => void,
  ): void;
};

/** One unary call; resolves with the answering ip, or the error's status code. */
function call(client: EchoClient): Promise<{ ip?: string; code?: grpc.status }> {
  return new Promise((resolve) =>
    client.Echo({}, { deadline: Date.now() + 5_000 }, (err, r) =>
      resolve(err ? { code: err.code } : { ip: r?.ip as string }),
    ),
  );
}

async function calls(client: EchoClient, n: number) {
  const byIp = new Map<string, number>();
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const r = await call(client);
    if (r.ip) byIp.set(r.ip, (byIp.get(r.ip) ?? 0) + 1);
    else failed++;
  }
  return { byIp, failed };
}

/** Polls `check` until it holds (10 s at most). */
async function eventually(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting until ${what}`);
}

describe("conformance: @grpc/grpc-js-xds against `trellis control-plane`", () => {
  let dir: string;
  let child: ChildProcess;
  let adminPort = 0;
  let stderr = "";
  const backends = new Map<string, Backend>();
  const clients: grpc.Client[] = [];
  let Echo: grpc.ServiceClientConstructor;

  const file = (name: string, text: string) => writeFile(join(dir, "config", name), text);
  const client = (svc: string) => {
    const c = new Echo(HOST(svc), grpc.credentials.createInsecure()) as unknown as EchoClient;
    clients.push(c);
    return c;
  };
  const connection = async (): Promise<ConnectionInfo | undefined> => {
    const res = await fetch(`http://127.0.0.1:${adminPort}/debug/connections`);
    const all = (await res.json()) as ConnectionInfo[];
    return all.find((c) => c.nodeId === NODE_ID);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "trellis-conformance-"));
    const first = await startBackend("127.0.0.2", 0);
    backends.set(first.ip, first);
    // Every endpoint listens on the same port number, each on its own loopback address.
    const boundPort = first.port;
    for (const [ip, flaky] of [
      ["127.0.0.3", false],
      ["127.0.0.4", false],
      ["127.0.0.5", true],
    ] as const) {
      backends.set(ip, await startBackend(ip, boundPort, flaky));
    }
    await mkdir(join(dir, "config"));
    await file("namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
    for (const svc of ["backend", "backend-v1", "backend-v2", "flaky"]) {
      await file(`${svc}-service.yaml`, service(svc));
    }
    await file(
      "backend-slice.yaml",
      slice("backend", boundPort, ["127.0.0.2", "127.0.0.3", "127.0.0.4"]),
    );
    await file("backend-v1-slice.yaml", slice("backend-v1", boundPort, ["127.0.0.2", "127.0.0.3"]));
    await file("backend-v2-slice.yaml", slice("backend-v2", boundPort, ["127.0.0.4"]));
    await file("flaky-slice.yaml", slice("flaky", boundPort, ["127.0.0.5"]));
    await file("split.yaml", split(75, 25));

    child = spawn(
      process.execPath,
      [
        TRELLIS,
        "control-plane",
        "--config",
        join(dir, "config"),
        "--ca-dir",
        join(dir, "ca"),
        "--xds-port",
        "0",
        "--xds-tls-port",
        "0",
        "--admin-port",
        "0",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    const serving = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout?.on("data", (d) => {
        out += d;
        if (out.includes("\n")) resolve(out);
      });
      child.once("exit", (code) => reject(new Error(`control plane exited ${code}: ${stderr}`)));
    });
    const m = /xds (\d+), xds-tls (\d+), admin (\d+)/.exec(serving);
    assert.ok(m, `the control plane's first line names its ports: ${serving}`);
    adminPort = Number(m[3]);

    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [
        {
          server_uri: `127.0.0.1:${m[1]}`,
          channel_creds: [{ type: "insecure" }],
          server_features: ["xds_v3"],
        },
      ],
      node: {
        id: NODE_ID,
        locality: { region: "lab", zone: "a" },
        metadata: { NAMESPACE: "shop", GENERATOR: "grpc" },
      },
    });
    (await import("@grpc/grpc-js-xds")).register();
    Echo = grpc.makeGenericClientConstructor(ECHO, "Echo");
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const b of backends.values()) b.server.forceShutdown();
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("reaches every endpoint of a Service through xds:///", async () => {
    const { byIp, failed } = await calls(client("backend-v1"), 40);
    assert.equal(failed, 0);
    assert.deepEqual([...byIp.keys()].sort(), ["127.0.0.2", "127.0.0.3"]);
    // Round robin: about an even share each (the first calls go to whichever connects first).
    for (const ip of ["127.0.0.2", "127.0.0.3"])
      assert.ok((byIp.get(ip) ?? 0) >= 15, `${ip}: ${byIp.get(ip)}`);
  });

  it("honours a weighted GRPCRoute split (75/25) within statistical bounds", async () => {
    const n = 600;
    const { byIp, failed } = await calls(client("backend"), n);
    assert.equal(failed, 0);
    const v2 = byIp.get("127.0.0.4") ?? 0;
    // Binomial(600, 0.25): mean 150, sd 10.6; ±50 is 4.7 sd.
    assert.ok(Math.abs(v2 - 150) <= 50, `backend-v2 got ${v2} of ${n}, expected ~150`);
    assert.equal((byIp.get("127.0.0.2") ?? 0) + (byIp.get("127.0.0.3") ?? 0) + v2, n);
  });

  it("a retry policy makes a flaky backend succeed", async () => {
    const flaky = client("flaky");
    const before = await calls(flaky, 40);
    assert.equal(before.failed, 20, "without retries every other call fails");
    await file("retry.yaml", retry);
    await eventually("the retry route reaches the client", async () => {
      const r = await calls(flaky, 4);
      return r.failed === 0;
    });
    const withRetry = await calls(flaky, 100);
    assert.equal(withRetry.failed, 0, "with 3 retries on UNAVAILABLE every call succeeds");
  });

  it("removing an endpoint from the config stops traffic to it", async () => {
    const c = client("backend-v1");
    await file(
      "backend-v1-slice.yaml",
      slice("backend-v1", backends.get("127.0.0.2")?.port ?? 0, ["127.0.0.2"]),
    );
    await eventually("127.0.0.3 gets no more calls", async () => {
      const r = await calls(c, 10);
      return r.byIp.get("127.0.0.3") === undefined;
    });
    const gone = backends.get("127.0.0.3") as Backend;
    const hitsBefore = gone.hits;
    const r = await calls(c, 100);
    assert.equal(r.failed, 0);
    assert.equal(r.byIp.get("127.0.0.2"), 100);
    assert.equal(gone.hits, hitsBefore);
  });

  it("an update the client NACKs leaves it working on its old config", async () => {
    const c = client("backend-v2");
    assert.equal((await calls(c, 5)).failed, 0);
    const cdsBefore = (await connection())?.types.find((t) => t.typeUrl === TypeUrl.Cluster);
    assert.ok(cdsBefore?.ackedVersion);
    // gRPC implements ROUND_ROBIN and ring hash only: LEAST_REQUEST is NACKed.
    await file(
      "backend-v2-service.yaml",
      service("backend-v2", { "trellis.dev/lb-policy": "LEAST_REQUEST" }),
    );
    await eventually("the client NACKs the new clusters", async () => {
      const cds = (await connection())?.types.find((t) => t.typeUrl === TypeUrl.Cluster);
      return cds?.lastNack !== undefined;
    });
    const cds = (await connection())?.types.find((t) => t.typeUrl === TypeUrl.Cluster);
    assert.match(cds?.lastNack?.message ?? "", /lb_policy/);
    assert.equal(cds?.ackedVersion, cdsBefore.ackedVersion, "the ACKed version stays the old one");
    const r = await calls(c, 50);
    assert.equal(r.failed, 0, "the client keeps using its last good config");
    assert.equal(r.byIp.get("127.0.0.4"), 50);
    assert.match(stderr, /rejected its configuration/, "the control plane logs the NACK");

    // Fixing the config: the clusters are pushed again and the client ACKs them.
    const nackedAt = new Date(cds?.lastNack?.at ?? 0).getTime();
    await file("backend-v2-service.yaml", service("backend-v2"));
    await eventually("the client ACKs the fixed clusters", async () => {
      const now = (await connection())?.types.find((t) => t.typeUrl === TypeUrl.Cluster);
      return (
        now?.lastSent !== undefined &&
        new Date(now.lastSent.at).getTime() > nackedAt &&
        now.ackedVersion === now.lastSent.version
      );
    });
  });
});

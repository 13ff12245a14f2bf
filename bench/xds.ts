// `npm run bench -- xds`: push convergence of the control plane. A mesh of 1,000 Services
// and 10,000 endpoints sits in the Store; N simulated sidecars (bench/xds-clients.ts, in
// worker processes) hold full subscriptions to it over SotW or delta ADS. Then one endpoint
// changes, again and again, and for each change the time from the Store write until each
// proxy's ACK of the new endpoints reaches the server: p50, p99, max over the proxies. Also
// the control plane's CPU seconds per change and its memory per connected proxy. SotW and
// delta run side by side; the goal (1,000 proxies converged in under 1 s at p99) is the
// peer the result is divided by, next to Istio's published sizing.

import { type ChildProcess, fork } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { MemoryStore } from "../api/memory-store.js";
import type { EndpointSlice, Namespace, Resource, Service } from "../api/types.js";
import { TypeUrl } from "../api/xds-proto.js";
import { MeshController } from "../control-plane/mesh-controller.js";
import { DEFAULT_OPTIONS } from "../control-plane/translator/index.js";
import { SnapshotCache } from "../control-plane/xds/cache.js";
import { startXdsServer } from "../control-plane/xds/server.js";
import type { ClientsReport, ClientsRequest } from "./xds-clients.js";

const GOAL_P99_MS = 1_000;
const GOAL_PROXIES = 1_000;

interface MeshSize {
  namespaces: number;
  servicesPerNamespace: number;
  endpointsPerService: number;
}

/** The benchmark mesh: HTTP Services with ClusterIPs and one EndpointSlice each. */
export function benchMesh(size: MeshSize): Resource[] {
  const out: Resource[] = [];
  let n = 0;
  for (let ns = 0; ns < size.namespaces; ns++) {
    const namespace = `ns-${ns}`;
    out.push({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: namespace },
    } satisfies Namespace);
    for (let s = 0; s < size.servicesPerNamespace; s++, n++) {
      const name = `svc-${s}`;
      out.push({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace },
        spec: {
          type: "ClusterIP",
          clusterIP: `10.96.${n >> 8}.${n & 255}`,
          selector: { app: name },
          ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
        },
      } satisfies Service);
      out.push(endpointSlice(namespace, name, n, size.endpointsPerService, 0));
    }
  }
  return out;
}

/** Service n's slice; `generation` moves the first endpoint, so each call is a real change. */
function endpointSlice(
  namespace: string,
  service: string,
  n: number,
  endpoints: number,
  generation: number,
): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${service}-bench`,
      namespace,
      labels: { "kubernetes.io/service-name": service },
    },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: Array.from({ length: endpoints }, (_, e) => ({
      addresses: [`10.${100 + (n >> 8)}.${n & 255}.${e === 0 ? 100 + (generation % 100) : e}`],
      conditions: { ready: true },
    })),
  };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
const ms = (v: number) => `${v.toFixed(0)} ms`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

interface Result {
  proxies: number;
  protocol: "sotw" | "delta";
  connectSeconds: number;
  /** Streams the simulated proxies had to open again while connecting (reset by the server). */
  retries: number;
  p50: number;
  p99: number;
  max: number;
  cpuSecondsPerChange: number;
  heapPerProxyKiB: number;
  /** The control plane process's resident set once every proxy is in sync. */
  rssMiB: number;
}

async function runOne(
  proxies: number,
  protocol: "sotw" | "delta",
  size: MeshSize,
  opts: { workers: number; changes: number; timeoutMs: number; profile?: string },
): Promise<Result> {
  const store = new MemoryStore();
  for (const r of benchMesh(size)) await store.create(r);
  const abort = new AbortController();
  const warnings: string[] = [];
  const cache = new SnapshotCache();
  const mesh = new MeshController({
    store,
    cache,
    signal: abort.signal,
    translate: { ...DEFAULT_OPTIONS, trustBundlePem: "" },
    log: (message: string, fields?: unknown) =>
      warnings.push(`${message} ${JSON.stringify(fields)}`),
  });
  const meshRun = mesh.start();
  await mesh.synced;

  // ACKs of the endpoints type as the server sees them, for the change being measured: once
  // the push is made, `expected` holds each node's new version, and the round ends when
  // every node has ACKed its own.
  let round: Round | undefined;
  const server = await startXdsServer({
    cache,
    log: { warn: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields)}`) },
    plaintext: { host: "127.0.0.1", port: 0 },
    callbacks: {
      ...mesh.callbacks,
      onAck: (_stream, nodeId, typeUrl, version) => {
        if (round && typeUrl === TypeUrl.ClusterLoadAssignment) round.ack(nodeId, version);
      },
    },
  });

  globalThis.gc?.();
  const memBefore = process.memoryUsage();
  const connectStart = performance.now();
  const workers: ChildProcess[] = [];
  const per = Math.ceil(proxies / opts.workers);
  const readies: Promise<void>[] = [];
  const errors: string[] = [];
  let retries = 0;
  for (let w = 0; w < opts.workers && w * per < proxies; w++) {
    const child = fork(join(import.meta.dirname, "xds-clients.js"), [], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    workers.push(child);
    readies.push(
      new Promise((resolve, reject) => {
        child.on("message", (m: ClientsReport) => {
          if (m.kind === "ready") {
            retries += m.retries;
            resolve();
          } else {
            errors.push(m.message);
            reject(new Error(`simulated proxies: ${m.message}`));
          }
        });
        child.once("exit", (code, signal) => {
          errors.push(`a client process exited (${signal ?? code})`);
          reject(new Error(`a client process exited (${signal ?? code})`));
        });
      }),
    );
    child.send({
      target: `127.0.0.1:${server.plaintextPort}`,
      protocol,
      first: w * per,
      count: Math.min(per, proxies - w * per),
      namespaces: size.namespaces,
    } satisfies ClientsRequest);
  }
  const cleanup = async () => {
    for (const w of workers) {
      if (w.exitCode === null) {
        const exited = new Promise((r) => w.once("exit", r));
        w.send({ kind: "stop" });
        await exited;
      }
    }
    await server.close();
    abort.abort();
    await meshRun;
    await store.close();
  };
  try {
    await withTimeout(Promise.all(readies), opts.timeoutMs, `${proxies} proxies to sync`);
    const connectSeconds = (performance.now() - connectStart) / 1000;
    globalThis.gc?.();
    const memAfter = process.memoryUsage();

    const times: number[][] = [];
    let cpu = 0;
    const profiler = opts.profile ? new Session() : undefined;
    if (profiler) {
      profiler.connect();
      await profiler.post("Profiler.enable");
      await profiler.post("Profiler.start");
    }
    for (let c = 1; c <= opts.changes; c++) {
      await new Promise((r) => setTimeout(r, 300));
      const n = (c * 37) % (size.namespaces * size.servicesPerNamespace);
      const ns = Math.floor(n / size.servicesPerNamespace);
      const s = n % size.servicesPerNamespace;
      const cpuStart = process.cpuUsage();
      const compiles = mesh.stats().compiles;
      round = new Round(performance.now());
      await store.apply(endpointSlice(`ns-${ns}`, `svc-${s}`, n, size.endpointsPerService, c));
      await eventually(() => (mesh.stats().compiles > compiles ? true : undefined), opts.timeoutMs);
      // The version each proxy ACKs for its endpoints: SotW's version_info is the type's
      // version, delta's system_version_info the snapshot's.
      const expected = new Map<string, string>();
      for (const node of cache.nodeIds()) {
        const prepared = cache.prepared(node);
        const v =
          protocol === "sotw"
            ? prepared?.types.get(TypeUrl.ClusterLoadAssignment)?.version
            : prepared?.version;
        if (v !== undefined) expected.set(node, v);
      }
      if (expected.size !== proxies) {
        throw new Error(
          `${expected.size} of ${proxies} proxies have a snapshot (${mesh.stats().proxies} known to the mesh)${errors.length ? `; the proxies saw: ${[...new Set(errors)].join("; ")}` : ""}${warnings.length ? `; the server: ${warnings.slice(0, 3).join("; ")}` : ""}`,
        );
      }
      const latencies = await withTimeout(round.expect(expected), opts.timeoutMs, "every ACK");
      cpu += secondsOf(process.cpuUsage(cpuStart));
      round = undefined;
      times.push(latencies.sort((x, y) => x - y));
    }
    if (profiler && opts.profile) {
      const { profile } = await profiler.post("Profiler.stop");
      const file = `${opts.profile}/xds-${proxies}-${protocol}.cpuprofile`;
      await writeFile(file, JSON.stringify(profile));
      profiler.disconnect();
      console.log(`    (CPU profile of the changes: ${file})`);
    }
    // Each change's p50/p99/max, then the median change.
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    return {
      proxies,
      protocol,
      connectSeconds,
      retries,
      p50: median(times.map((t) => pct(t, 50))),
      p99: median(times.map((t) => pct(t, 99))),
      max: median(times.map((t) => t[t.length - 1] ?? 0)),
      cpuSecondsPerChange: cpu / opts.changes,
      heapPerProxyKiB: (memAfter.heapUsed - memBefore.heapUsed) / proxies / 1024,
      rssMiB: memAfter.rss / 1024 / 1024,
    };
  } finally {
    await cleanup();
  }
}

/** One measured change: ACK times per node, matched against each node's new version. */
class Round {
  readonly #acks = new Map<string, { version: string; at: number }[]>();
  #expected: ReadonlyMap<string, string> | undefined;
  readonly #latencies = new Map<string, number>();
  #done: ((latencies: number[]) => void) | undefined;

  constructor(readonly since: number) {}

  ack(node: string, version: string): void {
    const at = performance.now();
    if (this.#expected) this.#match(node, version, at);
    else getOrPush(this.#acks, node).push({ version, at });
  }

  /** Resolves with each node's latency once every node in `expected` has ACKed its version. */
  expect(expected: ReadonlyMap<string, string>): Promise<number[]> {
    this.#expected = expected;
    const settled = new Promise<number[]>((resolve) => {
      this.#done = resolve;
    });
    for (const [node, list] of this.#acks) for (const a of list) this.#match(node, a.version, a.at);
    this.#acks.clear();
    this.#check();
    return settled;
  }

  #match(node: string, version: string, at: number): void {
    if (this.#expected?.get(node) !== version || this.#latencies.has(node)) return;
    this.#latencies.set(node, at - this.since);
    this.#check();
  }

  #check(): void {
    if (this.#done && this.#expected && this.#latencies.size === this.#expected.size) {
      this.#done([...this.#latencies.values()]);
      this.#done = undefined;
    }
  }
}

function getOrPush<K, V>(map: Map<K, V[]>, key: K): V[] {
  let list = map.get(key);
  if (!list) {
    list = [];
    map.set(key, list);
  }
  return list;
}

const secondsOf = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

async function eventually<T>(get: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 1));
  }
}

function withTimeout<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs).unref(),
    ),
  ]);
}

export async function benchXds(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      proxies: { type: "string", default: "100,1000,5000" },
      protocols: { type: "string", default: "sotw,delta" },
      services: { type: "string", default: "1000" },
      endpoints: { type: "string", default: "10" },
      changes: { type: "string", default: "5" },
      workers: { type: "string", default: "2" },
      "timeout-seconds": { type: "string", default: "300" },
      /** A directory: write a CPU profile of the change phase of each run there. */
      profile: { type: "string" },
    },
  });
  const services = Number(values.services);
  const size: MeshSize = {
    namespaces: 10,
    servicesPerNamespace: Math.ceil(services / 10),
    endpointsPerService: Number(values.endpoints),
  };
  const counts = String(values.proxies).split(",").map(Number);
  const protocols = String(values.protocols).split(",") as ("sotw" | "delta")[];
  console.log(
    `bench xds: node ${process.version}, ${availableParallelism()} CPUs; ${size.namespaces * size.servicesPerNamespace} Services, ${size.namespaces * size.servicesPerNamespace * size.endpointsPerService} endpoints; simulated sidecars in ${values.workers} worker processes; ${values.changes} single-endpoint changes per run; debounce 50 ms included`,
  );
  if (!globalThis.gc) console.log("(run node with --expose-gc for steadier memory figures)");
  const results: Result[] = [];
  for (const proxies of counts) {
    for (const protocol of protocols) {
      try {
        const r = await runOne(proxies, protocol, size, {
          workers: Number(values.workers),
          changes: Number(values.changes),
          timeoutMs: Number(values["timeout-seconds"]) * 1000,
          profile: values.profile,
        });
        results.push(r);
        console.log(
          `  ${String(proxies).padStart(5)} proxies ${protocol.padEnd(5)}  synced in ${r.connectSeconds.toFixed(1)} s${r.retries ? ` (${r.retries} streams reopened)` : ""}; one endpoint change → all ACKed: p50 ${ms(r.p50)}, p99 ${ms(r.p99)}, max ${ms(r.max)}; control plane ${r.cpuSecondsPerChange.toFixed(2)} CPU s per change, ${r.heapPerProxyKiB.toFixed(0)} KiB heap per proxy, ${r.rssMiB.toFixed(0)} MiB RSS in all`,
        );
      } catch (err) {
        console.log(
          `  ${String(proxies).padStart(5)} proxies ${protocol.padEnd(5)}  FAILED: ${(err as Error).message}`,
        );
      }
    }
  }
  const goal = results.filter((r) => r.proxies === GOAL_PROXIES);
  for (const r of goal) {
    console.log(
      `goal: ${GOAL_PROXIES} proxies converged in under ${ms(GOAL_P99_MS)} at p99 — ${r.protocol}: p99 ${ms(r.p99)}, ratio goal/p99 = ${(GOAL_P99_MS / r.p99).toFixed(2)} (≥ 1 meets it)`,
    );
  }
  const sotw = goal.find((r) => r.protocol === "sotw");
  const delta = goal.find((r) => r.protocol === "delta");
  if (sotw && delta)
    console.log(
      `delta vs SotW at ${GOAL_PROXIES} proxies: p99 ratio ${(sotw.p99 / delta.p99).toFixed(2)}×`,
    );
  console.log(
    `peer: Istio sizes one istiod at 1 vCPU and 1.5 GB for 1,000 services and 2,000 sidecars (${mib((1.5 * 1024 ** 3) / 2000)} per sidecar)`,
  );
  return results.length === counts.length * protocols.length ? 0 : 1;
}

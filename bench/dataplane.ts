// `npm run bench -- dataplane [--seconds 10] [--rate 1000] [--connections 16]`: what a
// pair of sidecars adds to a call, beside HAProxy doing the same job, in one run.
//
// Three paths to the same upstream apps (dataplane-apps.ts: 1 KiB per answer, HTTP/1.1 and
// gRPC), driven by dataplane-load.ts (open loop at a fixed rate, wrk2-style, and closed
// loop for saturation; 16 connections):
//   direct   client → app
//   trellis  client → [redirect] → `trellis sidecar` → mTLS (HTTP/2) → [redirect] →
//            `trellis sidecar` → app, configured by the real control plane, as in a pod
//   haproxy  client → haproxy → mTLS (ALPN h2 for gRPC) → haproxy → app, with SVIDs the
//            same CA issued for the same two identities
// Every process is its own (apps, load, each proxy), so each proxy's CPU and memory are
// read off /proc for it alone. It all runs on loopback in a network namespace of its own
// (the benchmark re-executes itself under `unshare`), with nftables rules doing what
// trellis-cni's would in the pods: the ClusterIP to the client sidecar's :15001 (but for
// its own marked sockets), the pod IP's ports to the server sidecar's inbound port.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { mintWorkloadToken } from "../control-plane/ca/index.js";
import { type ControlPlane, startControlPlane } from "../control-plane/control-plane.js";
import { meshServerCheck } from "../sidecar/agent.js";
import { caClient } from "../sidecar/ca-client.js";
import { type Svid, WorkloadIdentity } from "../sidecar/identity.js";
import type { LoadResult, LoadSpec } from "./dataplane-load.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = join(here, "..", "..");
const INSIDE = "TRELLIS_BENCH_NETNS";

const HTTP_PORT = 8080;
const GRPC_PORT = 9090;
const CLUSTER_IP = "10.96.0.50";
const HAPROXY_VIP = "10.96.0.60";
const CLIENT_POD_IP = "10.0.0.1";
const SERVER_POD_IP = "10.0.0.2";
const HAPROXY_SERVER_IP = "10.0.0.3";
const MARK = 0x539;
const CLIENT_PORTS = { admin: 15000, outbound: 15001, inbound: 15006 };
const SERVER_PORTS = { admin: 15100, outbound: 15101, inbound: 15106 };
const TRUST_DOMAIN = "cluster.local";

const MESH = `apiVersion: v1
kind: Namespace
metadata: {name: bench}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: bench}
spec: {mtls: {mode: STRICT}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: bench}
spec:
  clusterIP: ${CLUSTER_IP}
  selector: {app: web}
  ports:
  - {name: http, port: ${HTTP_PORT}, targetPort: ${HTTP_PORT}}
  - {name: grpc, port: ${GRPC_PORT}, targetPort: ${GRPC_PORT}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: bench, labels: {app: web}, annotations: {sidecar.trellis.dev/inject: "true"}}
spec: {serviceAccountName: web, containers: [{name: app, image: x, ports: [{containerPort: ${HTTP_PORT}}, {containerPort: ${GRPC_PORT}}]}]}
status: {podIP: ${SERVER_POD_IP}, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client-0, namespace: bench, labels: {app: client}, annotations: {sidecar.trellis.dev/inject: "true"}}
spec: {serviceAccountName: client, containers: [{name: app, image: x}]}
status: {podIP: ${CLIENT_POD_IP}, conditions: [{type: Ready, status: "True"}]}
`;

/** What trellis-cni installs in each pod, both pods' worth in the one namespace. */
const NFT_RULES = `table ip trellis_bench {
  chain output {
    type nat hook output priority -100; policy accept;
    ip daddr ${CLUSTER_IP} tcp dport { ${HTTP_PORT}, ${GRPC_PORT} } meta mark != ${MARK} redirect to :${CLIENT_PORTS.outbound}
    ip daddr ${SERVER_POD_IP} tcp dport { ${HTTP_PORT}, ${GRPC_PORT} } redirect to :${SERVER_PORTS.inbound}
  }
}
`;

function haproxyConfig(dir: string, side: "client" | "server"): string {
  const common = `global
  nbthread 1
  maxconn 4000
defaults
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
`;
  const tls = (who: string) =>
    `crt ${join(dir, `${who}.pem`)} ca-file ${join(dir, "root.pem")} verify required`;
  if (side === "client") {
    return `${common}
frontend out_http
  mode http
  bind ${HAPROXY_VIP}:${HTTP_PORT}
  default_backend mtls_http
backend mtls_http
  mode http
  http-reuse always
  server web ${HAPROXY_SERVER_IP}:${HTTP_PORT} ssl ${tls("client")}
frontend out_grpc
  mode http
  bind ${HAPROXY_VIP}:${GRPC_PORT} proto h2
  default_backend mtls_grpc
backend mtls_grpc
  mode http
  http-reuse always
  server web ${HAPROXY_SERVER_IP}:${GRPC_PORT} ssl ${tls("client")} alpn h2
`;
  }
  return `${common}
frontend in_http
  mode http
  bind ${HAPROXY_SERVER_IP}:${HTTP_PORT} ssl ${tls("server")}
  default_backend app_http
backend app_http
  mode http
  http-reuse always
  server app 127.0.0.1:${HTTP_PORT}
frontend in_grpc
  mode http
  bind ${HAPROXY_SERVER_IP}:${GRPC_PORT} ssl ${tls("server")} alpn h2
  default_backend app_grpc
backend app_grpc
  mode http
  http-reuse always
  server app 127.0.0.1:${GRPC_PORT} proto h2
`;
}

function run(cmd: string, args: string[], input?: string): void {
  const r = spawnSync(cmd, args, { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.error}`);
}

/** Starts a child and waits until its output says `ready` (a line containing it). */
async function startChild(
  name: string,
  cmd: string,
  args: string[],
  ready: RegExp | undefined,
  children: ChildProcess[],
): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  // TRELLIS_BENCH_LOGS=DIR keeps each child's whole output in DIR/NAME.log.
  const logDir = process.env.TRELLIS_BENCH_LOGS;
  const collect = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
    if (logDir) appendFileSync(join(logDir, `${name.replace(/\W+/g, "-")}.log`), d);
  };
  child.stderr?.on("data", collect);
  if (!ready) {
    child.stdout?.on("data", collect);
    await new Promise((r) => setTimeout(r, 300));
    if (child.exitCode !== null) throw new Error(`${name} exited: ${output}`);
    return child;
  }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} never got ready: ${output}`)), 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}): ${output}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      collect(Buffer.from(`${line}\n`));
      if (ready.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return child;
}

/** CPU seconds (user + system, all threads) of a process so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 (utime, stime) of proc(5), counted from after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function memoryMb(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

interface Measured {
  readonly load: LoadResult;
  /** Cores used by each proxy of the path over the measured window. */
  readonly cores: readonly number[];
}

async function measure(spec: LoadSpec, proxies: readonly ChildProcess[]): Promise<Measured> {
  const child = spawn(process.execPath, [join(here, "dataplane-load.js"), JSON.stringify(spec)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  // CPU is read over the measured window only, not the warm-up.
  await new Promise((r) => setTimeout(r, spec.warmupSeconds * 1000 + 100));
  const pids = proxies.map((p) => p.pid as number);
  const before = await Promise.all(pids.map(cpuSeconds));
  const t = performance.now();
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  const wall = (performance.now() - t) / 1000;
  const after = await Promise.all(pids.map(cpuSeconds));
  if (code !== 0) throw new Error(`the load generator failed (${code})`);
  return {
    load: JSON.parse(out) as LoadResult,
    cores: pids.map((_, i) => ((after[i] as number) - (before[i] as number)) / wall),
  };
}

async function svid(cp: ControlPlane, dir: string, sa: string): Promise<Svid> {
  const token = await mintWorkloadToken(cp.tokenKey as never, {
    namespace: "bench",
    serviceAccount: sa,
    ttlSeconds: 3600,
  });
  const sign = caClient({
    address: `127.0.0.1:${cp.xdsTlsPort}`,
    credentials: grpc.credentials.createSsl(Buffer.from(cp.trustBundlePem()), null, null, {
      checkServerIdentity: meshServerCheck(TRUST_DOMAIN),
    }),
    token: async () => token,
  });
  try {
    const identity = new WorkloadIdentity({
      spiffeId: `spiffe://${TRUST_DOMAIN}/ns/bench/sa/${sa}`,
      trustDomain: TRUST_DOMAIN,
      sign,
    });
    const issued = await identity.issue();
    await writeFile(join(dir, `${sa}.token`), token);
    return issued;
  } finally {
    sign.close();
  }
}

const ms = (v: number) => v.toFixed(3).padStart(7);
/** a/b, or n/a when b is within noise of zero or below (an added latency can measure < 0). */
const ratio = (a: number, b: number) => (b > 0.005 ? `${(a / b).toFixed(2)}×` : "n/a");

async function inside(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seconds: { type: "string", default: "10" },
      warmup: { type: "string", default: "2" },
      rate: { type: "string", default: "1000" },
      connections: { type: "string", default: "16" },
      protocol: { type: "string" },
      "cpu-prof": { type: "string" },
      "sidecar-node-flags": { type: "string" },
      only: { type: "string" },
    },
  });
  const seconds = Number(values.seconds);
  const warmupSeconds = Number(values.warmup);
  const rate = Number(values.rate);
  const connections = Number(values.connections);
  const protocols = (values.protocol ? [values.protocol] : ["http1", "grpc"]) as (
    | "http1"
    | "grpc"
  )[];

  run("ip", ["link", "set", "lo", "up"]);
  // Every 10.x address is local, as a pod's and a ClusterIP's would be reachable.
  run("ip", ["route", "add", "local", "10.0.0.0/8", "dev", "lo"]);
  run("nft", ["-f", "-"], NFT_RULES);

  const dir = await mkdtemp(join(tmpdir(), "trellis-bench-dataplane-"));
  const children: ChildProcess[] = [];
  let cp: ControlPlane | undefined;
  try {
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
    // The same CA, the same two identities, for HAProxy; the sidecars get their own.
    for (const sa of ["client", "web"]) {
      const s = await svid(cp, dir, sa);
      await writeFile(
        join(dir, `${sa === "web" ? "server" : "client"}.pem`),
        `${s.chainPem}\n${s.keyPem}`,
      );
    }

    const node = process.execPath;
    // --cpu-prof DIR: V8 CPU profiles of the two sidecars, written when they exit.
    const profile = values["cpu-prof"];
    // --sidecar-node-flags "…": more node flags for the sidecars (e.g. --trace-gc).
    const sidecarNodeFlags = [
      ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : []),
      ...(values["sidecar-node-flags"]?.split(/\s+/).filter(Boolean) ?? []),
    ];
    await startChild(
      "the apps",
      node,
      [join(here, "dataplane-apps.js"), String(HTTP_PORT), String(GRPC_PORT)],
      /ready/,
      children,
    );
    const sidecar = async (
      pod: string,
      sa: string,
      ip: string,
      app: string,
      ports: typeof CLIENT_PORTS,
    ) =>
      startChild(
        `the ${pod} sidecar`,
        node,
        [
          ...sidecarNodeFlags,
          join(repo, "bin", "trellis.js"),
          "sidecar",
          `--control-plane=127.0.0.1:${cp?.xdsTlsPort}`,
          `--ca-root=${join(dir, "root.pem")}`,
          `--token-file=${join(dir, `${sa}.token`)}`,
          "--namespace=bench",
          `--pod=${pod}`,
          `--service-account=${sa}`,
          `--pod-ip=${ip}`,
          `--labels=app=${app}`,
          `--admin-port=${ports.admin}`,
          `--outbound-port=${ports.outbound}`,
          `--inbound-port=${ports.inbound}`,
          `--mark=${MARK}`,
        ],
        /trellis sidecar: spiffe/,
        children,
      );
    const trellis = [
      await sidecar("client-0", "client", CLIENT_POD_IP, "client", CLIENT_PORTS),
      await sidecar("web-0", "web", SERVER_POD_IP, "web", SERVER_PORTS),
    ];
    // Memory once started and configured, before any traffic.
    await new Promise((r) => setTimeout(r, 500));
    const idle = await Promise.all(trellis.map((p) => memoryMb(p.pid as number)));
    const haproxy: ChildProcess[] = [];
    for (const side of ["client", "server"] as const) {
      const cfg = join(dir, `haproxy-${side}.cfg`);
      await writeFile(cfg, haproxyConfig(dir, side));
      haproxy.push(
        await startChild(`haproxy (${side})`, "haproxy", ["-db", "-f", cfg], undefined, children),
      );
    }
    const haproxyVersion = /version (\S+)/.exec(
      spawnSync("haproxy", ["-v"], { encoding: "utf8" }).stdout,
    )?.[1];

    console.log(
      `bench dataplane: node ${process.version}, HAProxy ${haproxyVersion}; 1 KiB answers, ${connections} connections, ${seconds} s per run after ${warmupSeconds} s of warm-up; loopback in a private network namespace; each proxy one process, one thread of JS (HAProxy nbthread 1)`,
    );
    const paths = [
      { name: "direct", host: "127.0.0.1", proxies: [] as ChildProcess[] },
      { name: "trellis", host: CLUSTER_IP, proxies: trellis },
      { name: "haproxy", host: HAPROXY_VIP, proxies: haproxy },
    ].filter((p) => !values.only || p.name === "direct" || p.name === values.only);
    for (const protocol of protocols) {
      const port = protocol === "http1" ? HTTP_PORT : GRPC_PORT;
      const label = protocol === "http1" ? "HTTP/1.1" : "gRPC (unary)";
      const fixed: Record<string, Measured> = {};
      const saturated: Record<string, Measured> = {};
      for (const path of paths) {
        const spec = { protocol, host: path.host, port, connections, seconds, warmupSeconds };
        fixed[path.name] = await measure({ ...spec, rate }, path.proxies);
        saturated[path.name] = await measure({ ...spec, rate: 0 }, path.proxies);
      }
      const direct = fixed.direct as Measured;
      console.log(`\n${label} at ${rate.toLocaleString("en-US")} rps, open loop`);
      console.log(
        "  path       p50 ms  p90 ms  p99 ms   added p50   p90     p99    vCPU per 1,000 rps (each proxy)  errors",
      );
      for (const path of paths) {
        const m = fixed[path.name] as Measured;
        const l = m.load;
        const added =
          path.name === "direct"
            ? "".padEnd(27)
            : `${ms(l.p50 - direct.load.p50)} ${ms(l.p90 - direct.load.p90)} ${ms(l.p99 - direct.load.p99)}`;
        const achieved = l.requests / l.seconds;
        const cpu = m.cores.map((c) => (c / (achieved / 1000)).toFixed(3)).join(" + ");
        console.log(
          `  ${path.name.padEnd(8)} ${ms(l.p50)} ${ms(l.p90)} ${ms(l.p99)}   ${added}    ${cpu.padEnd(31)}  ${l.errors}`,
        );
      }
      console.log(`\n${label} at saturation, closed loop`);
      console.log(
        "  path       rps      p50 ms  p99 ms   cores used (each proxy)   rps per proxy core",
      );
      for (const path of paths) {
        const m = saturated[path.name] as Measured;
        const l = m.load;
        const achieved = l.requests / l.seconds;
        const cores = m.cores.map((c) => c.toFixed(2)).join(" + ");
        const perCore = m.cores
          .map((c) => Math.round(achieved / c).toLocaleString("en-US"))
          .join(" / ");
        console.log(
          `  ${path.name.padEnd(8)} ${Math.round(achieved).toLocaleString("en-US").padStart(7)}  ${ms(l.p50)} ${ms(l.p99)}   ${cores.padEnd(24)}  ${perCore}`,
        );
      }
      const t = fixed.trellis;
      const ts = saturated.trellis;
      if (t && ts) {
        const h = fixed.haproxy;
        const hs = saturated.haproxy;
        const added = (m: Measured) => m.load.p99 - direct.load.p99;
        const cpuOf = (m: Measured) =>
          Math.max(...m.cores) / (m.load.requests / m.load.seconds / 1000);
        const perCoreOf = (m: Measured) => m.load.requests / m.load.seconds / Math.max(...m.cores);
        if (h && hs) {
          console.log(
            `\n  ${label}, Trellis vs HAProxy: added p99 ${ms(added(t))} vs ${ms(added(h))} ms (${ratio(added(t), added(h))}); vCPU per 1,000 rps of the busier proxy ${cpuOf(t).toFixed(3)} vs ${cpuOf(h).toFixed(3)} (${ratio(cpuOf(t), cpuOf(h))}); rps per core of the busier proxy at saturation ${Math.round(perCoreOf(ts))} vs ${Math.round(perCoreOf(hs))} (${ratio(perCoreOf(ts), perCoreOf(hs))})`,
          );
        }
        console.log(
          `  goals: added p99 ≤ 0.5 ms at ${rate.toLocaleString("en-US")} rps ${added(t) <= 0.5 ? "met" : "NOT met"}; ≤ 0.20 vCPU per 1,000 rps per sidecar ${cpuOf(t) <= 0.2 ? "met" : "NOT met"}`,
        );
      }
    }
    console.log(
      `\nmemory per proxy (RSS now / peak); the sidecars, started and configured, before traffic: ${idle.map((m) => `${m.rss.toFixed(1)} MB`).join(", ")}`,
    );
    for (const [name, list] of [
      ["trellis", trellis],
      ["haproxy", haproxy],
    ] as const) {
      const mems = await Promise.all(list.map((p) => memoryMb(p.pid as number)));
      console.log(
        `  ${name.padEnd(8)} ${mems.map((m) => `${m.rss.toFixed(1)} / ${m.peak.toFixed(1)} MB`).join(", ")}`,
      );
    }
    const sidecarPeak = Math.max(
      ...(await Promise.all(trellis.map((p) => memoryMb(p.pid as number)))).map((m) => m.peak),
    );
    console.log(`  goal: RSS ≤ 60 MB per sidecar ${sidecarPeak <= 60 ? "met" : "NOT met"}`);
    return 0;
  } finally {
    // SIGTERM first: a sidecar drains and exits (and writes its profile); then SIGKILL.
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill("SIGKILL"), 8000);
            c.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            c.kill("SIGTERM");
          }),
      ),
    );
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** HAProxy is the peer: Debian's package, installed here when missing and we are root. */
function ensureHaproxy(): boolean {
  if (spawnSync("haproxy", ["-v"]).status === 0) return true;
  if (process.getuid?.() === 0) {
    console.error("bench dataplane: installing Debian's haproxy (the peer it is compared with)");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    spawnSync("apt-get", ["install", "-y", "-qq", "haproxy"], { stdio: "inherit", env });
    if (spawnSync("haproxy", ["-v"]).status === 0) return true;
  }
  console.error("bench dataplane: needs HAProxy: apt-get install haproxy");
  return false;
}

export async function benchDataplane(argv: readonly string[]): Promise<number> {
  if (process.env[INSIDE]) return inside(argv);
  if (!ensureHaproxy()) return 2;
  // Its own network namespace (and user namespace when not root), PID namespace with
  // --kill-child so that nothing outlives the run, and no change to the host's network.
  const userns = process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"];
  const child = spawn(
    "unshare",
    [
      ...userns,
      "--net",
      "--fork",
      "--pid",
      "--mount",
      "--mount-proc",
      "--kill-child",
      process.execPath,
      ...process.execArgv,
      process.argv[1] as string,
      "dataplane",
      ...argv,
    ],
    { stdio: "inherit", env: { ...process.env, [INSIDE]: "1" } },
  );
  return new Promise((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
}

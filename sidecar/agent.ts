// The sidecar's control side, wired: the identity from the CA service, the xDS client on
// the control plane's ADS (over TLS with that identity when the mesh root is known), and
// the admin port (:15000) that says whether both are in, and the proxy's listeners
// (:15001, :15006), which read `identity.current` and `xds.config` per connection.

import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo, Server } from "node:net";
import type { Writable } from "node:stream";
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { SIDECAR } from "../cni-redirect/redirect-config.js";
import { type Bootstrap, spiffeIdOf, xdsNode } from "./bootstrap.js";
import { caClient } from "./ca-client.js";
import { RetryBudget } from "./http/retry.js";
import { UpstreamPools } from "./http/upstream-pool.js";
import { WorkloadIdentity } from "./identity.js";
import { CircuitBreakers, circuitLimits } from "./proxy/circuit-breakers.js";
import { ClusterPicker } from "./proxy/clusters.js";
import { inboundListener, outboundListener } from "./proxy/listeners.js";
import { TlsMaterial } from "./proxy/tls.js";
import { AccessLog } from "./telemetry/access-log.js";
import { SidecarMetrics } from "./telemetry/metrics.js";
import { XdsClient } from "./xds/client.js";
import { grpcTransport } from "./xds/grpc-transport.js";

export interface SidecarAgentOptions {
  readonly bootstrap: Bootstrap;
  /** Default 15000; 0: any free port. */
  readonly adminPort?: number;
  readonly adminHost?: string;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Reconnect backoff of the xDS stream (tests shorten it). */
  readonly xdsBackoff?: { readonly baseMs?: number; readonly maxMs?: number };
  /** How long draining waits for open connections (Istio's terminationDrainDuration: 5 s). */
  readonly drainTimeoutMs?: number;
  /** Where to write the access log (a JSON line per request); absent: none. */
  readonly accessLog?: Writable;
  /** The proxy's listeners (:15001 outbound, :15006 inbound); absent: the control side only. */
  readonly listeners?: {
    readonly host?: string;
    readonly outboundPort?: number;
    readonly inboundPort?: number;
    /** SO_MARK on upstream sockets (cni-redirect exempts 0x539); absent: rely on uid 1337. */
    readonly mark?: number;
  };
}

export interface SidecarAgent {
  readonly identity: WorkloadIdentity;
  readonly xds: XdsClient;
  readonly adminPort: number;
  /** The bound listener ports, when the listeners run. */
  readonly outboundPort?: number;
  readonly inboundPort?: number;
  /** Config and certificate are in, and not draining: what /ready answers. */
  ready(): boolean;
  /** Graceful shutdown: /ready 503, no new connections, in-flight ones get `timeoutMs`. */
  drain(timeoutMs?: number): Promise<void>;
  /** Resolves when POST /quitquitquit has drained the sidecar: the process should exit. */
  readonly quitRequested: Promise<void>;
  close(): Promise<void>;
}

/** The control plane presents an SVID of the mesh's trust domain; nothing else will do. */
export function meshServerCheck(trustDomain: string) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const sans = (cert.subjectaltname ?? "").split(", ");
    return sans.some((s) => s.startsWith(`URI:spiffe://${trustDomain}/`))
      ? undefined
      : new Error(`the control plane's certificate is not an SVID of ${trustDomain}`);
  };
}

export async function startSidecarAgent(options: SidecarAgentOptions): Promise<SidecarAgent> {
  const b = options.bootstrap;
  const log = options.log ?? (() => {});
  const root = b.caRootFile ? await readFile(b.caRootFile) : undefined;
  const checkServerIdentity = meshServerCheck(b.trustDomain);
  const ca = caClient({
    address: b.controlPlane,
    credentials: root
      ? grpc.credentials.createSsl(root, null, null, { checkServerIdentity })
      : grpc.credentials.createInsecure(),
    token: () => readFile(b.tokenFile, "utf8"),
  });
  const identity = new WorkloadIdentity({
    spiffeId: spiffeIdOf(b),
    trustDomain: b.trustDomain,
    sign: ca,
    validitySeconds: Math.ceil(b.svidTtlMs / 1000),
    log,
  });
  await identity.start();
  log("got an SVID", {
    spiffeId: identity.current?.spiffeId,
    notAfter: identity.current?.notAfter,
  });

  const transport = grpcTransport(b.controlPlane, () => {
    const svid = identity.current;
    if (!root || !svid) return grpc.credentials.createInsecure();
    return grpc.credentials.createSsl(root, Buffer.from(svid.keyPem), Buffer.from(svid.chainPem), {
      checkServerIdentity,
    });
  });
  const stopRenew = identity.onRotate((svid) => {
    transport.renew();
    log("SVID rotated", { serial: svid.serialHex, notAfter: svid.notAfter });
  });
  const xds = new XdsClient({
    protocol: b.xds,
    node: xdsNode(b),
    open: transport.open,
    log,
    ...(options.xdsBackoff ? { backoff: options.xdsBackoff } : {}),
  });
  xds.start();

  const metrics = new SidecarMetrics(b.node.id, {
    name: b.node.labels.app ?? b.node.podName,
    namespace: b.node.namespace,
    principal: spiffeIdOf(b),
  });
  const accessLog = options.accessLog ? new AccessLog(b.node.id, options.accessLog) : undefined;
  /** The concrete stage's state (balancers, outlier detection), which /clusters shows. */
  const picker = new ClusterPicker();
  /** The circuit breakers' counts, which /clusters shows too. */
  const breakers = new CircuitBreakers();
  let draining = false;
  const ready = () => identity.current !== undefined && xds.synced && !draining;
  let requestQuit = () => {};
  const quitRequested = new Promise<void>((resolve) => {
    requestQuit = resolve;
  });
  const proxies: Server[] = [];
  const closers: (() => void)[] = [];
  let drained: Promise<void> | undefined;
  /** Stop accepting, let open connections finish for up to `timeoutMs`, then cut the rest. */
  const drain = (timeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_MS): Promise<void> => {
    if (drained) return drained;
    draining = true;
    log("draining: /ready is 503, listeners stop accepting", { timeoutMs });
    const closed = Promise.all(proxies.map((p) => new Promise<void>((r) => p.close(() => r()))));
    drained = Promise.race([
      closed,
      new Promise<void>((r) => setTimeout(r, timeoutMs).unref()),
    ]).then(() => {
      for (const c of closers) c();
    });
    return drained;
  };
  const admin = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://admin");
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(`${JSON.stringify(body, null, 2)}\n`);
    };
    switch (url.pathname) {
      case "/ready":
        res.writeHead(ready() ? 200 : 503, { "content-type": "text/plain" });
        res.end(
          ready()
            ? "LIVE\n"
            : draining
              ? "draining\n"
              : "not ready: waiting for config and certificate\n",
        );
        return;
      case "/clusters":
        return json(200, clustersView(xds, picker, breakers));
      case "/stats/prometheus":
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        res.end(metrics.render());
        return;
      case "/drain":
      case "/quitquitquit":
        if (req.method !== "POST") {
          res.writeHead(405, { allow: "POST", "content-type": "text/plain" });
          res.end(`${url.pathname} changes state: POST it\n`);
          return;
        }
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(url.pathname === "/drain" ? "draining\n" : "draining, then exiting\n");
        void drain().then(() => {
          if (url.pathname === "/quitquitquit") requestQuit();
        });
        return;
      case "/config_dump":
        return json(200, configDump(xds));
      case "/certs": {
        const svid = identity.current;
        return json(200, {
          spiffeId: svid?.spiffeId,
          serial: svid?.serialHex,
          notBefore: svid?.notBefore,
          notAfter: svid?.notAfter,
          rotations: identity.rotations,
        });
      }
      default:
        res.writeHead(404, { "content-type": "text/plain" });
        res.end(
          "not found: /ready, /config_dump, /clusters, /certs, /stats/prometheus, POST /drain, POST /quitquitquit\n",
        );
    }
  });
  await listen(admin, options.adminPort ?? 15000, options.adminHost ?? "127.0.0.1");
  const adminPort = (admin.address() as AddressInfo).port;

  const ports: { outboundPort?: number; inboundPort?: number } = {};
  if (options.listeners) {
    const l = options.listeners;
    const material = new TlsMaterial(identity, xds);
    const pools = new UpstreamPools({
      material,
      breakers,
      ...(l.mark !== undefined ? { mark: l.mark } : {}),
    });
    closers.push(() => pools.close());
    const deps = {
      xds,
      picker,
      material,
      pools,
      budget: new RetryBudget(),
      breakers,
      log,
      ...(l.mark !== undefined ? { mark: l.mark } : {}),
    };
    const outbound = outboundListener(deps);
    const inbound = inboundListener(deps);
    await listen(outbound, l.outboundPort ?? SIDECAR.outboundPort, l.host ?? "0.0.0.0");
    await listen(inbound, l.inboundPort ?? SIDECAR.inboundPort, l.host ?? "0.0.0.0");
    proxies.push(outbound, inbound);
    ports.outboundPort = (outbound.address() as AddressInfo).port;
    ports.inboundPort = (inbound.address() as AddressInfo).port;
  }

  return {
    identity,
    xds,
    adminPort,
    ...ports,
    ready,
    drain,
    quitRequested,
    async close() {
      for (const p of proxies) p.close();
      for (const c of closers) c();
      metrics.close();
      accessLog?.close();
      stopRenew();
      xds.close();
      transport.close();
      identity.close();
      ca.close();
      await new Promise<void>((r) => admin.close(() => r()));
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

const DEFAULT_DRAIN_MS = 5_000;

/**
 * Each cluster and its endpoints with their health, as Envoy's /clusters lists them, and its
 * circuit breakers: the thresholds, what is open against them, and the overflows.
 */
function clustersView(xds: XdsClient, picker: ClusterPicker, breakers: CircuitBreakers) {
  const c = xds.config;
  return Object.fromEntries(
    [...c.clusters].map(([name, r]) => {
      const cluster = r.message as Record<string, unknown>;
      const eds = (cluster.eds_cluster_config as { service_name?: string } | undefined)
        ?.service_name;
      const assignment = (
        cluster.type === "EDS" ? c.endpoints.get(eds || name)?.message : cluster.load_assignment
      ) as { endpoints?: { lb_endpoints?: Record<string, unknown>[] }[] } | undefined;
      const endpoints = (assignment?.endpoints ?? []).flatMap((l) =>
        (l.lb_endpoints ?? []).map((e) => {
          const sa = (e.endpoint as { address?: { socket_address?: Record<string, unknown> } })
            ?.address?.socket_address;
          const address = `${sa?.address}:${sa?.port_value}`;
          return {
            address,
            health: e.health_status ?? "UNKNOWN",
            ejected: picker.outliers.isEjected(name, address),
          };
        }),
      );
      const limits = circuitLimits(cluster);
      const stats = breakers.stats(name);
      const circuitBreakers = {
        thresholds: {
          max_connections: limits.maxConnections,
          max_pending_requests: limits.maxPendingRequests,
          max_requests: limits.maxRequests,
        },
        open: {
          connections: stats.connections,
          pending_requests: stats.pendingRequests,
          requests: stats.requests,
        },
        overflows: stats.overflows,
      };
      return [
        name,
        { type: cluster.type ?? "STATIC", endpoints, circuit_breakers: circuitBreakers },
      ];
    }),
  );
}

/** The config in service, by type, as Envoy's /config_dump shows it (decoded resources). */
function configDump(xds: XdsClient) {
  const c = xds.config;
  const dump = (m: ReadonlyMap<string, { message: unknown }>) =>
    Object.fromEntries([...m].map(([name, r]) => [name, r.message]));
  return {
    status: xds.status(),
    warming: c.warming,
    listeners: dump(c.listeners),
    routes: dump(c.routes),
    clusters: dump(c.clusters),
    endpoints: dump(c.endpoints),
    // Secrets are shown by name only: private keys never leave the process.
    secrets: [...c.secrets.keys()],
  };
}

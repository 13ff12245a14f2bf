// The control plane's admin HTTP port (istiod's :15014 debug endpoints): readiness, each
// proxy's snapshot as JSON, the xDS connections with their ACKed versions and last NACKs,
// and a few Prometheus counters.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { TypeUrl } from "../api/xds-proto.js";
import type { MeshStats } from "./mesh-controller.js";
import type { ConnectionInfo } from "./xds/stream-state.js";
import type { Snapshot } from "./xds/types.js";

export interface AdminSource {
  /** Why the control plane is not ready yet, or undefined once it is. */
  notReady(): string | undefined;
  snapshot(nodeId: string): Snapshot | undefined;
  nodeIds(): string[];
  connections(): ConnectionInfo[];
  stats(): MeshStats;
}

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

/** The short names config_dump groups resources by, in push order. */
const TYPE_NAMES: Record<string, string> = {
  [TypeUrl.Cluster]: "clusters",
  [TypeUrl.ClusterLoadAssignment]: "endpoints",
  [TypeUrl.Secret]: "secrets",
  [TypeUrl.Listener]: "listeners",
  [TypeUrl.RouteConfiguration]: "routes",
};

/** A snapshot as JSON: `{version, clusters: [...], endpoints: [...], …}`, each with @type. */
export function snapshotJson(nodeId: string, snapshot: Snapshot): Record<string, unknown> {
  const out: Record<string, unknown> = { node: nodeId, version: snapshot.version };
  for (const [typeUrl, map] of snapshot.resources) {
    const name = TYPE_NAMES[typeUrl] ?? typeUrl;
    out[name] = [...map.values()].map((message) => ({ "@type": typeUrl, ...message }));
  }
  return out;
}

interface Reply {
  readonly status: number;
  /** A string is sent as it is (text/plain unless `type` says); anything else as JSON. */
  readonly body: unknown;
  readonly type?: string;
}

const reply = (status: number, body: unknown, type?: string): Reply => ({
  status,
  body,
  ...(type !== undefined && { type }),
});

function send(res: ServerResponse, r: Reply): void {
  const json = typeof r.body !== "string";
  const text = json ? `${JSON.stringify(r.body, null, 2)}\n` : (r.body as string);
  res.writeHead(r.status, {
    "content-type": r.type ?? (json ? "application/json" : "text/plain"),
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function metrics(source: AdminSource): string {
  const s = source.stats();
  const conns = source.connections();
  const nacked = conns.filter((c) => c.types.some((t) => t.lastNack)).length;
  const lines = [
    "# HELP trellis_cp_proxies Proxies with an open xDS stream.",
    "# TYPE trellis_cp_proxies gauge",
    `trellis_cp_proxies ${s.proxies}`,
    "# HELP trellis_cp_xds_streams Open xDS streams, by protocol.",
    "# TYPE trellis_cp_xds_streams gauge",
    `trellis_cp_xds_streams{protocol="sotw"} ${conns.filter((c) => c.protocol === "sotw").length}`,
    `trellis_cp_xds_streams{protocol="delta"} ${conns.filter((c) => c.protocol === "delta").length}`,
    "# HELP trellis_cp_streams_with_nack Streams whose proxy rejected some configuration.",
    "# TYPE trellis_cp_streams_with_nack gauge",
    `trellis_cp_streams_with_nack ${nacked}`,
    "# HELP trellis_cp_compiles_total Translations of the whole mesh.",
    "# TYPE trellis_cp_compiles_total counter",
    `trellis_cp_compiles_total ${s.compiles}`,
    "# HELP trellis_cp_last_push_seconds Time of the last push (compile and every snapshot).",
    "# TYPE trellis_cp_last_push_seconds gauge",
    `trellis_cp_last_push_seconds ${(s.lastPushMs / 1000).toFixed(6)}`,
    "# HELP trellis_cp_snapshots_refused_total Snapshots not published: they failed the check.",
    "# TYPE trellis_cp_snapshots_refused_total counter",
    `trellis_cp_snapshots_refused_total ${s.refused}`,
    "# HELP trellis_cp_translate_warnings Problems in the configuration the translator worked around.",
    "# TYPE trellis_cp_translate_warnings gauge",
    `trellis_cp_translate_warnings ${s.warnings.length}`,
  ];
  return `${lines.join("\n")}\n`;
}

function handle(source: AdminSource, req: IncomingMessage): Reply {
  const url = new URL(req.url ?? "/", "http://admin");
  if (req.method !== "GET") return reply(405, { error: "only GET" });
  switch (url.pathname) {
    case "/ready": {
      const why = source.notReady();
      return why === undefined ? reply(200, "ready\n") : reply(503, `not ready: ${why}\n`);
    }
    case "/debug/config_dump": {
      const node = url.searchParams.get("node");
      if (!node) {
        return reply(400, {
          error: "which proxy? /debug/config_dump?node=ID",
          nodes: source.nodeIds().sort(),
        });
      }
      const snapshot = source.snapshot(node);
      if (!snapshot) {
        return reply(404, {
          error: `no snapshot for node ${JSON.stringify(node)}: it has not connected, or has gone`,
          nodes: source.nodeIds().sort(),
        });
      }
      return reply(200, snapshotJson(node, snapshot));
    }
    case "/debug/connections":
      return reply(200, source.connections());
    case "/debug/warnings":
      return reply(200, source.stats().warnings);
    case "/metrics":
      return reply(200, metrics(source), "text/plain; version=0.0.4");
    default:
      return reply(404, {
        error: `no such page ${url.pathname}`,
        pages: [
          "/ready",
          "/debug/config_dump?node=ID",
          "/debug/connections",
          "/debug/warnings",
          "/metrics",
        ],
      });
  }
}

export async function startAdminServer(
  source: AdminSource,
  listen: { host: string; port: number },
): Promise<AdminServer> {
  const server: Server = createServer((req, res) => {
    let r: Reply;
    try {
      r = handle(source, req);
    } catch (err) {
      r = reply(500, { error: (err as Error).message });
    }
    send(res, r);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

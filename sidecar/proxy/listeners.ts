// The sidecar's L4 listeners. Outbound (:15001) takes the connections the redirect rules
// send it, recovers where each was going (SO_ORIGINAL_DST), finds the virtualOutbound
// filter chain for that ClusterIP:port, and carries the bytes to an endpoint of the chain's
// cluster — over mTLS when the endpoint has a sidecar. Inbound (:15006) sniffs TLS or
// plaintext, terminates mTLS per the chain's DownstreamTlsContext (the PeerAuthentication),
// applies the chain's RBAC (the AuthorizationPolicy) to the peer's SPIFFE ID and the port,
// and forwards to the app. Each connection is a pipeline assembled in one function below;
// every failure is a coded error, logged once, and the connection is reset. A chain whose
// terminal filter is an HTTP connection manager is served as HTTP/1.1 or HTTP/2 (ALPN, or
// the h2c preface) by the L7 router (http/router.ts).

import { createServer, type Server, type Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { XdsMessage } from "../../api/xds-proto.js";
import { SIDECAR } from "../../cni-redirect/redirect-config.js";
import { evaluateRbac } from "../authz/rbac.js";
import { H2_PREFACE, httpServers } from "../http/downstream.js";
import { RetryBudget } from "../http/retry.js";
import { connectionManagerHandler } from "../http/router.js";
import { UpstreamPools } from "../http/upstream-pool.js";
import { type ConnectionFacts, selectFilterChain } from "../listeners/filter-chain.js";
import { type Destination, originalDestination, SocketOptionError } from "../socket-options.js";
import { type ConnectionEvent, connectionChannel } from "../telemetry/events.js";
import type { XdsClient } from "../xds/client.js";
import { type CircuitBreakers, howMany } from "./circuit-breakers.js";
import type { ClusterPicker } from "./clusters.js";
import { durationMs } from "./clusters.js";
import { hashKey, tcpHashPolicies } from "./hash-policy.js";
import { DEFAULT_IDLE_TIMEOUT_MS, pipeSockets } from "./pipe.js";
import { peerIdentity, type TlsMaterial } from "./tls.js";
import { connectUpstream } from "./upstream.js";

export const VIRTUAL_OUTBOUND = "virtualOutbound";
export const VIRTUAL_INBOUND = "virtualInbound";
const TCP_PROXY = "envoy.filters.network.tcp_proxy";
const NETWORK_RBAC = "envoy.filters.network.rbac";
const HCM = "envoy.filters.network.http_connection_manager";
/** How long an inbound connection may take to send its first bytes (Envoy's listener filter timeout). */
const FIRST_BYTES_TIMEOUT_MS = 15_000;

export interface ListenerDeps {
  readonly xds: XdsClient;
  readonly picker: ClusterPicker;
  readonly material: TlsMaterial;
  /** SO_MARK for upstream sockets, agreed with cni-redirect (0x539); none: uid 1337 exempts them. */
  readonly mark?: number;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
  /** For tests: where a connection was going. Default: SO_ORIGINAL_DST, else the local address. */
  readonly destinationOf?: (socket: Socket) => Destination;
  /** L7 upstream pools and the retry budget; made per listener when absent. */
  readonly pools?: UpstreamPools;
  readonly budget?: RetryBudget;
  /** The circuit breakers of L4 and L7 alike; the pools' when absent. */
  readonly breakers?: CircuitBreakers;
}

type Ready = ListenerDeps & {
  readonly pools: UpstreamPools;
  readonly budget: RetryBudget;
  readonly breakers: CircuitBreakers;
};

function withL7(deps: ListenerDeps): Ready {
  const pools =
    deps.pools ??
    new UpstreamPools({
      material: deps.material,
      ...(deps.mark !== undefined ? { mark: deps.mark } : {}),
      ...(deps.breakers ? { breakers: deps.breakers } : {}),
    });
  return {
    ...deps,
    pools,
    budget: deps.budget ?? new RetryBudget(),
    breakers: deps.breakers ?? pools.breakers,
  };
}

export type ConnectionErrorCode =
  | "NO_CONFIG"
  | "NO_FILTER_CHAIN"
  | "RBAC_DENIED"
  | "DOWNSTREAM_TLS_FAILED"
  | "REDIRECT_LOOP"
  | "OVERFLOW";

class ConnectionError extends Error {
  constructor(
    readonly code: ConnectionErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The original destination; a connection that was not redirected keeps its own address. */
export function destinationOf(socket: Socket): Destination {
  try {
    return originalDestination(socket);
  } catch (err) {
    if (!(err instanceof SocketOptionError) || err.code !== "ERR_NOT_REDIRECTED") throw err;
    const v6 = socket.localFamily === "IPv6";
    return { address: socket.localAddress ?? "", port: socket.localPort ?? 0, family: v6 ? 6 : 4 };
  }
}

export function outboundListener(listenerDeps: ListenerDeps): Server {
  const deps = withL7(listenerDeps);
  return createServer({ allowHalfOpen: true }, (socket) => {
    void handle(deps, "outbound", socket, async () => {
      const dst = (deps.destinationOf ?? destinationOf)(socket);
      // Sent to :15001 itself (not redirected there): passing it through would loop.
      if (dst.port === SIDECAR.outboundPort) {
        throw new ConnectionError("REDIRECT_LOOP", "a connection to the outbound port itself");
      }
      const chain = chainFor(deps, VIRTUAL_OUTBOUND, {
        destinationIp: dst.address,
        destinationPort: dst.port,
        transportProtocol: "raw_buffer",
      });
      await forward(deps, "outbound", socket, chain, dst);
    });
  });
}

export function inboundListener(listenerDeps: ListenerDeps): Server {
  const deps = withL7(listenerDeps);
  return createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    void handle(deps, "inbound", socket, async () => {
      const dst = (deps.destinationOf ?? destinationOf)(socket);
      const first = await firstBytes(socket);
      const transportProtocol = first[0] === 0x16 ? "tls" : "raw_buffer";
      const chain = chainFor(deps, VIRTUAL_INBOUND, {
        destinationIp: dst.address,
        destinationPort: dst.port,
        transportProtocol,
      });
      socket.unshift(first);
      let downstream: Socket = socket;
      let principal: string | undefined;
      const transport = chain.transport_socket as XdsMessage | undefined;
      if (transport?.name === "envoy.transport_sockets.tls") {
        const context = (transport.typed_config ?? {}) as XdsMessage;
        downstream = await terminateTls(deps, socket, context);
        principal = peerIdentity(downstream as TLSSocket);
      }
      for (const filter of (chain.filters ?? []) as XdsMessage[]) {
        if (filter.name !== NETWORK_RBAC) continue;
        const rules = (filter.typed_config as XdsMessage | undefined)?.rules as
          | XdsMessage
          | undefined;
        const verdict = evaluateRbac(rules, { principal, destinationPort: dst.port });
        if (!verdict.allowed) {
          throw new ConnectionError(
            "RBAC_DENIED",
            `${principal ?? "a plaintext peer"} to port ${dst.port}: denied${verdict.policy ? ` by ${verdict.policy}` : " (no ALLOW policy matched)"}`,
          );
        }
      }
      await forward(deps, "inbound", downstream, chain, dst, principal);
    });
  });
}

/** HTTP/2 when ALPN chose it or the connection opens with the h2c preface; else HTTP/1.1. */
async function serveHttp(
  deps: Ready,
  direction: "inbound" | "outbound",
  downstream: Socket,
  hcm: XdsMessage,
  dst: Destination,
  principal?: string,
): Promise<void> {
  let protocol: "h2" | "http/1.1";
  if (downstream instanceof TLSSocket) {
    protocol = downstream.alpnProtocol === "h2" ? "h2" : "http/1.1";
  } else {
    const first = await firstBytes(downstream);
    downstream.unshift(first);
    protocol = first.subarray(0, H2_PREFACE.length).equals(H2_PREFACE.subarray(0, first.length))
      ? "h2"
      : "http/1.1";
  }
  const rds = (hcm.rds as XdsMessage | undefined)?.route_config_name;
  const inline = hcm.route_config as XdsMessage | undefined;
  const handler = connectionManagerHandler(
    {
      config: () => deps.xds.config,
      picker: deps.picker,
      pools: deps.pools,
      budget: deps.budget,
      breakers: deps.breakers,
    },
    {
      routes: () => (typeof rds === "string" ? deps.xds.config.routes.get(rds)?.message : inline),
      httpFilters: (hcm.http_filters ?? []) as XdsMessage[],
      ...(principal ? { principal } : {}),
      destinationPort: dst.port,
      destination: { address: dst.address, port: dst.port },
      ...(downstream.remoteAddress ? { sourceAddress: downstream.remoteAddress } : {}),
    },
  );
  const servers = httpServers(handler, {
    scheme: downstream instanceof TLSSocket ? "https" : "http",
    context: {
      sidecar: deps.xds.nodeId,
      direction,
      ...(principal ? { peerPrincipal: principal } : {}),
      mtls: downstream instanceof TLSSocket,
    },
    ...(deps.log ? { log: deps.log } : {}),
  });
  downstream.once("close", () => servers.close());
  // Bytes the stream already holds must reach the server first. HTTP/1.1's server reads
  // them once the stream flows. HTTP/2's session takes the socket's handle and, on the next
  // tick, reads what the socket still buffers — what TLS decrypted early, or the h2c preface
  // the sniff put back with unshift() — so the socket must not flow (it would emit those
  // bytes to no one). Handing it the socket itself, not a Duplex over it, keeps nghttp2 on
  // the native stream (a Duplex is read through a JS stream socket, which cost the client
  // sidecar 0.03–0.08 vCPU per 1,000 rps more in `npm run bench -- dataplane --protocol grpc`).
  if (protocol === "http/1.1") downstream.resume();
  servers.serve(downstream, protocol);
}

async function handle(
  deps: Ready,
  direction: "outbound" | "inbound",
  socket: Socket,
  run: () => Promise<void>,
): Promise<void> {
  socket.on("error", () => {});
  socket.setNoDelay(true);
  try {
    await run();
  } catch (err) {
    const e = err as Error & { code?: string };
    deps.log?.(`${direction} connection refused`, {
      code: e.code ?? "INTERNAL",
      error: e.message,
      peer: `${socket.remoteAddress}:${socket.remotePort}`,
    });
    socket.resetAndDestroy?.() ?? socket.destroy();
  }
}

function chainFor(deps: Ready, listenerName: string, facts: ConnectionFacts): XdsMessage {
  const listener = deps.xds.config.listeners.get(listenerName)?.message;
  if (!listener) throw new ConnectionError("NO_CONFIG", `no ${listenerName} listener yet`);
  const selected = selectFilterChain(listener, facts);
  if (!selected) {
    throw new ConnectionError(
      "NO_FILTER_CHAIN",
      `${listenerName}: no filter chain for ${facts.destinationIp}:${facts.destinationPort} (${facts.transportProtocol})`,
    );
  }
  return selected.chain;
}

/**
 * The chain's terminal filter: tcp_proxy (to its cluster's endpoint, bytes both ways) or an
 * HTTP connection manager (requests routed one by one). `principal` is the verified peer.
 */
async function forward(
  deps: Ready,
  direction: "inbound" | "outbound",
  downstream: Socket,
  chain: XdsMessage,
  dst: Destination,
  principal?: string,
) {
  const filters = (chain.filters ?? []) as XdsMessage[];
  const terminal = filters[filters.length - 1];
  if (terminal?.name === HCM) {
    await serveHttp(
      deps,
      direction,
      downstream,
      (terminal.typed_config ?? {}) as XdsMessage,
      dst,
      principal,
    );
    return;
  }
  if (terminal?.name !== TCP_PROXY) {
    throw new ConnectionError(
      "NO_FILTER_CHAIN",
      `chain ${String(chain.name ?? "")} has no tcp_proxy`,
    );
  }
  const proxy = (terminal.typed_config ?? {}) as XdsMessage;
  const cluster = typeof proxy.cluster === "string" ? proxy.cluster : weightedCluster(proxy);
  const key = hashKey(tcpHashPolicies(proxy.hash_policy), {
    sourceAddress: downstream.remoteAddress,
  });
  const target = deps.picker.pick(
    deps.xds.config,
    cluster,
    dst,
    key === undefined ? undefined : { hashKey: key },
  );
  let closed: (() => void) | undefined;
  try {
    // Envoy's tcp_proxy refuses the connection rather than queue it.
    if (!deps.breakers.mayConnect(target.cluster, target.limits)) {
      deps.breakers.overflow(target.cluster, "max_connections");
      throw new ConnectionError(
        "OVERFLOW",
        `cluster ${target.cluster} has ${howMany(deps.breakers.connections(target.cluster), "connection")} open, its max_connections`,
      );
    }
    closed = deps.breakers.connection(target.cluster);
    const upstream = await connectUpstream({
      address: target.address,
      port: target.port,
      timeoutMs: target.connectTimeoutMs,
      material: deps.material,
      ...(target.tls ? { tls: target.tls } : {}),
      ...(deps.mark !== undefined ? { mark: deps.mark } : {}),
    }).catch((err: unknown) => {
      target.report("error");
      throw err;
    });
    target.report("success");
    const inbound = direction === "inbound";
    const facts = {
      sidecar: deps.xds.nodeId,
      direction,
      ...(principal ? { peerPrincipal: principal } : {}),
      cluster: target.cluster,
      endpoint: `${target.address}:${target.port}`,
      mtls: inbound ? downstream instanceof TLSSocket : target.tls !== undefined,
    };
    const started = performance.now();
    if (connectionChannel.hasSubscribers) {
      connectionChannel.publish({
        ...facts,
        phase: "open",
        durationMs: 0,
        sentBytes: 0,
        receivedBytes: 0,
      } satisfies ConnectionEvent);
    }
    downstream.resume();
    const result = await pipeSockets(
      downstream,
      upstream,
      durationMs(proxy.idle_timeout) ?? DEFAULT_IDLE_TIMEOUT_MS,
    );
    if (connectionChannel.hasSubscribers) {
      connectionChannel.publish({
        ...facts,
        phase: "close",
        durationMs: performance.now() - started,
        // From the reporting sidecar's side: what it sent toward the peer, and got back.
        sentBytes: inbound ? result.bytesUpstreamToDownstream : result.bytesDownstreamToUpstream,
        receivedBytes: inbound
          ? result.bytesDownstreamToUpstream
          : result.bytesUpstreamToDownstream,
        ...(result.reason ? { error: result.reason } : {}),
      } satisfies ConnectionEvent);
    }
  } finally {
    closed?.();
    target.release();
  }
}

function weightedCluster(proxy: XdsMessage): string {
  const clusters = ((proxy.weighted_clusters as XdsMessage | undefined)?.clusters ??
    []) as XdsMessage[];
  const total = clusters.reduce((s, c) => s + Number(c.weight ?? 0), 0);
  let r = Math.random() * total;
  for (const c of clusters) {
    r -= Number(c.weight ?? 0);
    if (r < 0) return String(c.name);
  }
  return String(clusters[clusters.length - 1]?.name ?? "");
}

function firstBytes(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new ConnectionError("NO_FILTER_CHAIN", "no bytes from the peer in time"));
    }, FIRST_BYTES_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      cleanup();
      socket.pause();
      resolve(chunk);
    };
    const onEnd = () => {
      cleanup();
      reject(new ConnectionError("NO_FILTER_CHAIN", "the peer closed before sending anything"));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
    };
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.resume();
  });
}

function terminateTls(deps: Ready, socket: Socket, context: XdsMessage): Promise<TLSSocket> {
  const requireClientCert =
    (context.require_client_certificate as XdsMessage | undefined)?.value === true;
  const alpn = ((context.common_tls_context as XdsMessage | undefined)?.alpn_protocols ??
    []) as string[];
  return new Promise((resolve, reject) => {
    const secure = new TLSSocket(socket, {
      isServer: true,
      secureContext: deps.material.secureContext(),
      requestCert: true,
      rejectUnauthorized: requireClientCert,
      ...(alpn.length ? { ALPNProtocols: alpn } : {}),
    });
    secure.once("secure", () => {
      // What node:tls' own server does on "secure" before it hands a socket on: without
      // it the socket still reads as mid-handshake, and node:http2 waits for a
      // "secureConnect" that a server-side socket never emits.
      (secure as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
      secure.removeAllListeners("error");
      secure.on("error", () => {});
      resolve(secure);
    });
    secure.once("error", (err) =>
      reject(new ConnectionError("DOWNSTREAM_TLS_FAILED", `mTLS handshake: ${err.message}`)),
    );
  });
}

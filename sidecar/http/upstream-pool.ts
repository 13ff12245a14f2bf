// The endpoint stage of L7: connection pools per cluster and endpoint. HTTP/2 — always
// between two sidecars, one multiplexed mTLS connection per peer (Linkerd's fast path), and
// to apps whose cluster asks for it (gRPC) — keeps one session per endpoint and opens
// streams on it; HTTP/1.1 keeps alive a set of connections per endpoint, one request at a
// time on each. Both hold the cluster's circuit breakers as Envoy's pools do: a connection
// counts against max_connections from when it is opened until it closes (a session counts
// one); a request that has to wait for a connection — one being opened for it, or, with
// max_connections open and all busy, the next to come free — is pending, and past
// max_pending_requests it fails fast with OVERFLOW. An endpoint without any connection
// always gets one, whatever the cluster's other endpoints hold (Envoy's rule: otherwise
// its requests would wait on connections they can never use). Connections come from the
// L4 endpoint stage (upstream.ts: socket mark, mTLS, the peer's SPIFFE ID checked).

import { Agent, type ClientRequestArgs, request as h1Request } from "node:http";
import { type ClientHttp2Session, constants, connect as h2Connect } from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { CircuitBreakers, type CircuitLimits, howMany } from "../proxy/circuit-breakers.js";
import type { TlsMaterial } from "../proxy/tls.js";
import { connectUpstream, UpstreamError, type UpstreamTls } from "../proxy/upstream.js";
import {
  forwardableHeaders,
  type Headers,
  ProxyError,
  type ProxyRequest,
  type ProxyResponse,
  type RequestSignal,
} from "./contract.js";

export interface HttpTarget {
  /** The cluster the endpoint belongs to: pools, and their limits, are per cluster. */
  readonly cluster: string;
  readonly address: string;
  readonly port: number;
  readonly tls?: UpstreamTls;
  readonly connectTimeoutMs: number;
  /** HTTP/2 to this endpoint (prior knowledge over plaintext, ALPN h2 over TLS). */
  readonly http2: boolean;
  /** The cluster's max_connections and max_pending_requests. */
  readonly limits: CircuitLimits;
}

export interface PoolDeps {
  readonly material: TlsMaterial;
  readonly mark?: number;
  /** The sidecar's circuit breakers (shared with the router and the TCP proxy); new if absent. */
  readonly breakers?: CircuitBreakers;
}

const keyOf = (t: HttpTarget) =>
  `${t.cluster}|${t.address}|${t.port}|${t.http2 ? "h2" : "h1"}|${t.tls ? `tls:${t.tls.sni ?? ""}` : "plain"}`;

/** An HTTP/2 session to one endpoint: connecting, then `session` once it is up. */
interface Session {
  readonly ready: Promise<ClientHttp2Session>;
  session?: ClientHttp2Session;
}

/** A request waiting for an HTTP/1.1 connection. */
interface Waiter {
  /** Sends it now (synchronously: it takes the free socket, or opens the connection). */
  start(): void;
  fail(err: ProxyError): void;
}

/** The HTTP/1.1 connections of one cluster's endpoint. */
interface H1Pool {
  readonly cluster: string;
  readonly agent: PoolAgent;
  /** Oldest first. */
  readonly waiting: Waiter[];
  /** Open or opening. */
  connections: number;
  /** The cluster's, as of its latest request. */
  limits: CircuitLimits;
}

export class UpstreamPools {
  readonly breakers: CircuitBreakers;
  readonly #sessions = new Map<string, Session>();
  readonly #h1Pools = new Map<string, H1Pool>();

  constructor(readonly deps: PoolDeps) {
    this.breakers = deps.breakers ?? new CircuitBreakers();
  }

  dispatch(
    target: HttpTarget,
    request: ProxyRequest,
    signal: RequestSignal,
  ): Promise<ProxyResponse> {
    return target.http2 ? this.#h2(target, request, signal) : this.#h1(target, request, signal);
  }

  close(): void {
    for (const s of this.#sessions.values())
      void s.ready.then(
        (x) => x.close(),
        () => {},
      );
    for (const pool of this.#h1Pools.values()) {
      for (const w of pool.waiting.splice(0)) {
        w.fail(new ProxyError("UPSTREAM_RESET", "the sidecar's connection pools closed"));
      }
      pool.agent.destroy();
    }
    this.#sessions.clear();
    this.#h1Pools.clear();
  }

  #connect(target: HttpTarget, alpn?: readonly string[]): Promise<Socket> {
    return connectUpstream({
      address: target.address,
      port: target.port,
      timeoutMs: target.connectTimeoutMs,
      material: this.deps.material,
      ...(target.tls ? { tls: { ...target.tls, alpn: alpn ?? target.tls.alpn } } : {}),
      ...(this.deps.mark !== undefined ? { mark: this.deps.mark } : {}),
    }).catch((err: unknown) => {
      if (err instanceof UpstreamError) throw new ProxyError(err.code, err.message);
      throw err;
    });
  }

  #pendingOverflow(target: HttpTarget): ProxyError {
    return new ProxyError(
      "OVERFLOW",
      `cluster ${target.cluster} has ${howMany(this.breakers.pending(target.cluster), "request")} waiting for a connection, its max_pending_requests`,
    );
  }

  /** The endpoint's session, connecting if there is none (its endpoint's only connection). */
  #session(target: HttpTarget): Session {
    const key = keyOf(target);
    const existing = this.#sessions.get(key);
    if (existing) return existing;
    const closed = this.breakers.connection(target.cluster);
    const forget = () => {
      if (this.#sessions.get(key) === entry) this.#sessions.delete(key);
    };
    const ready = this.#connect(target, ["h2"]).then((socket) => {
      const session = h2Connect(`http://${target.address}:${target.port}`, {
        createConnection: () => socket,
      });
      session.on("close", () => {
        forget();
        closed();
      });
      session.on("goaway", forget);
      session.on("error", forget);
      entry.session = session;
      return session;
    });
    const entry: Session = { ready };
    ready.catch(() => {
      forget();
      closed();
    });
    this.#sessions.set(key, entry);
    return entry;
  }

  async #h2(target: HttpTarget, req: ProxyRequest, signal: RequestSignal): Promise<ProxyResponse> {
    const entry = this.#session(target);
    let session = entry.session;
    if (!session) {
      // Waiting for the session to connect: a pending request.
      const pending = this.breakers.pend(target.cluster, target.limits);
      if (!pending) throw this.#pendingOverflow(target);
      try {
        session = await entry.ready;
      } finally {
        pending();
      }
    }
    if (session.closed || session.destroyed) {
      if (this.#sessions.get(keyOf(target)) === entry) this.#sessions.delete(keyOf(target));
      return this.#h2(target, req, signal);
    }
    const stream = session.request(
      Object.assign(
        {
          ":method": req.method,
          ":path": req.path,
          ":authority": req.authority,
          ":scheme": "http",
        },
        req.headers,
      ),
    );
    const abort = () => stream.close(constants.NGHTTP2_CANCEL);
    signal.addEventListener("abort", abort, { once: true });
    req.body.pipe(stream);
    return new Promise((resolve, reject) => {
      let responded = false;
      const trailers = new Promise<Headers>((done) => {
        stream.once("trailers", (t) => done(forwardableHeaders(t)));
        stream.once("close", () => done({}));
      });
      stream.once("response", (headers) => {
        responded = true;
        resolve({
          status: Number(headers[":status"] ?? 502),
          headers: forwardableHeaders(headers),
          body: stream,
          trailers,
        });
      });
      stream.once("error", (err) => {
        if (!responded) reject(new ProxyError("UPSTREAM_RESET", `HTTP/2 stream: ${err.message}`));
      });
      stream.once("close", () => {
        signal.removeEventListener("abort", abort);
        if (!responded) {
          reject(
            new ProxyError(
              "UPSTREAM_RESET",
              `the upstream reset the stream (code ${stream.rstCode})`,
            ),
          );
        }
      });
    });
  }

  /** The endpoint's HTTP/1.1 pool, made on its first request. */
  #h1Pool(target: HttpTarget): H1Pool {
    const key = keyOf(target);
    const existing = this.#h1Pools.get(key);
    if (existing) {
      existing.limits = target.limits;
      return existing;
    }
    const open = async (): Promise<Socket> => {
      pool.connections++;
      const closed = this.breakers.connection(target.cluster);
      const gone = () => {
        pool.connections--;
        closed();
        // A connection fewer: a waiting request of the cluster's may now open one.
        for (const p of this.#h1Pools.values()) if (p.cluster === pool.cluster) this.#drain(p);
      };
      try {
        const socket = await this.#connect(target, ["http/1.1"]);
        socket.once("close", gone);
        return socket;
      } catch (err) {
        gone();
        throw err;
      }
    };
    const pool: H1Pool = {
      cluster: target.cluster,
      agent: new PoolAgent(
        open,
        () => pool.waiting.length > 0,
        () => this.#drain(pool),
      ),
      waiting: [],
      connections: 0,
      limits: target.limits,
    };
    this.#h1Pools.set(key, pool);
    return pool;
  }

  /** A new connection for `pool`: within max_connections, or its endpoint's first. */
  #mayConnect(pool: H1Pool): boolean {
    return pool.connections === 0 || this.breakers.mayConnect(pool.cluster, pool.limits);
  }

  /** Sends waiting requests while a socket is free or a connection may be opened. */
  #drain(pool: H1Pool): void {
    while (pool.waiting.length > 0 && (idleSockets(pool.agent) > 0 || this.#mayConnect(pool))) {
      pool.waiting.shift()?.start();
    }
  }

  #h1(target: HttpTarget, req: ProxyRequest, signal: RequestSignal): Promise<ProxyResponse> {
    const pool = this.#h1Pool(target);
    return new Promise((resolve, reject) => {
      const send = (pending?: () => void) =>
        this.#send(pool, req, signal, pending, resolve, reject);
      // A free keep-alive socket (and nobody waiting before this request): no wait.
      if (pool.waiting.length === 0 && idleSockets(pool.agent) > 0) return send();
      const pending = this.breakers.pend(target.cluster, target.limits);
      if (!pending) return reject(this.#pendingOverflow(target));
      if (pool.waiting.length === 0 && this.#mayConnect(pool)) return send(pending);
      // max_connections are open and all busy: wait for one to come free, or to close.
      this.breakers.overflow(target.cluster, "max_connections");
      if (signal.aborted) {
        pending();
        return reject(new ProxyError("UPSTREAM_TIMEOUT", "aborted"));
      }
      const onAbort = () => {
        const i = pool.waiting.indexOf(waiter);
        if (i >= 0) pool.waiting.splice(i, 1);
        waiter.fail(new ProxyError("UPSTREAM_TIMEOUT", "aborted while waiting for a connection"));
      };
      const waiter: Waiter = {
        start: () => {
          signal.removeEventListener("abort", onAbort);
          send(pending);
        },
        fail: (err) => {
          signal.removeEventListener("abort", onAbort);
          pending();
          reject(err);
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      pool.waiting.push(waiter);
    });
  }

  /** One request on the pool's agent, which has a free socket for it or opens one. */
  #send(
    pool: H1Pool,
    req: ProxyRequest,
    signal: RequestSignal,
    pending: (() => void) | undefined,
    resolve: (res: ProxyResponse) => void,
    reject: (err: unknown) => void,
  ): void {
    const outgoing = h1Request({
      agent: pool.agent,
      method: req.method,
      path: req.path,
      headers: Object.assign({}, req.headers, { host: req.authority }),
    });
    // The signal destroys the request (and a response still streaming), as http.request's
    // `signal` option would; that option wants a real AbortSignal (contract.ts, Cancellation).
    const cancel = () => outgoing.destroy(new ProxyError("UPSTREAM_TIMEOUT", "aborted"));
    if (signal.aborted) cancel();
    else {
      signal.addEventListener("abort", cancel, { once: true });
      outgoing.once("close", () => signal.removeEventListener("abort", cancel));
    }
    if (pending) {
      // No longer waiting once it has a socket (or has failed).
      outgoing.once("socket", pending);
      outgoing.once("close", pending);
    }
    let responded = false;
    outgoing.once("response", (res) => {
      responded = true;
      resolve({
        status: res.statusCode ?? 502,
        headers: forwardableHeaders(res.headers),
        body: res,
        trailers: new Promise((done) => {
          res.once("end", () => done(forwardableHeaders(res.trailers)));
          res.once("close", () => done({}));
        }),
      });
    });
    outgoing.once("error", (err: Error & { code?: string }) => {
      if (responded) return;
      if (err instanceof ProxyError) reject(err);
      else if (signal.aborted) reject(new ProxyError("UPSTREAM_TIMEOUT", "aborted"));
      else reject(new ProxyError("UPSTREAM_RESET", `HTTP/1.1: ${err.message}`));
    });
    req.body.pipe(outgoing);
  }
}

/** Free keep-alive sockets of an agent that can still be used. */
function idleSockets(agent: Agent): number {
  let n = 0;
  for (const list of Object.values(agent.freeSockets)) {
    for (const socket of list ?? []) if (!socket.destroyed) n++;
  }
  return n;
}

/**
 * Node's keep-alive Agent for one pool, with no limit of its own (the pool decides when a
 * request goes): its connections come from `open`, and a socket coming free while a
 * request is `waiting` calls `freed` on the next tick, by which time it is among the
 * agent's free sockets for that request. With nobody waiting (the common case, once per
 * request) nothing is scheduled.
 */
class PoolAgent extends Agent {
  constructor(
    readonly open: () => Promise<Socket>,
    readonly waiting: () => boolean,
    readonly freed: () => void,
  ) {
    super({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  }

  // The Agent takes a callback here, so the connection may be made asynchronously.
  override createConnection(
    _options: ClientRequestArgs,
    done?: (err: Error | null, stream: Duplex) => void,
  ): undefined {
    this.open().then(
      (socket) => done?.(null, socket),
      (err: Error) => done?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }

  override keepSocketAlive(socket: Duplex): boolean {
    const kept = super.keepSocketAlive(socket) as unknown as boolean;
    if (kept && this.waiting()) process.nextTick(this.freed);
    return kept;
  }
}

// The endpoint stage of L7: connection pools per endpoint. HTTP/2 — always between two
// sidecars, one multiplexed mTLS connection per peer (Linkerd's fast path), and to apps
// whose cluster asks for it (gRPC) — keeps one session per endpoint and opens streams on
// it; HTTP/1.1 keeps alive a set of connections per endpoint. Connections come from the
// L4 endpoint stage (upstream.ts: socket mark, mTLS, the peer's SPIFFE ID checked).

import { Agent, request as h1Request } from "node:http";
import { type ClientHttp2Session, constants, connect as h2Connect } from "node:http2";
import type { Socket } from "node:net";
import type { TlsMaterial } from "../proxy/tls.js";
import { connectUpstream, UpstreamError, type UpstreamTls } from "../proxy/upstream.js";
import {
  forwardableHeaders,
  type Headers,
  ProxyError,
  type ProxyRequest,
  type ProxyResponse,
} from "./contract.js";

export interface HttpTarget {
  readonly address: string;
  readonly port: number;
  readonly tls?: UpstreamTls;
  readonly connectTimeoutMs: number;
  /** HTTP/2 to this endpoint (prior knowledge over plaintext, ALPN h2 over TLS). */
  readonly http2: boolean;
}

export interface PoolDeps {
  readonly material: TlsMaterial;
  readonly mark?: number;
}

const keyOf = (t: HttpTarget) =>
  `${t.address}|${t.port}|${t.http2 ? "h2" : "h1"}|${t.tls ? `tls:${t.tls.sni ?? ""}` : "plain"}`;

export class UpstreamPools {
  readonly #sessions = new Map<string, Promise<ClientHttp2Session>>();
  readonly #agents = new Map<string, Agent>();

  constructor(readonly deps: PoolDeps) {}

  dispatch(target: HttpTarget, request: ProxyRequest, signal: AbortSignal): Promise<ProxyResponse> {
    return target.http2 ? this.#h2(target, request, signal) : this.#h1(target, request, signal);
  }

  close(): void {
    for (const s of this.#sessions.values())
      void s.then(
        (x) => x.close(),
        () => {},
      );
    for (const a of this.#agents.values()) a.destroy();
    this.#sessions.clear();
    this.#agents.clear();
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

  #session(target: HttpTarget): Promise<ClientHttp2Session> {
    const key = keyOf(target);
    const existing = this.#sessions.get(key);
    if (existing) return existing;
    const created = this.#connect(target, ["h2"]).then((socket) => {
      const session = h2Connect(`http://${target.address}:${target.port}`, {
        createConnection: () => socket,
      });
      const forget = () => {
        if (this.#sessions.get(key) === created) this.#sessions.delete(key);
      };
      session.on("close", forget);
      session.on("goaway", forget);
      session.on("error", forget);
      return session;
    });
    created.catch(() => this.#sessions.delete(key));
    this.#sessions.set(key, created);
    return created;
  }

  async #h2(target: HttpTarget, req: ProxyRequest, signal: AbortSignal): Promise<ProxyResponse> {
    const session = await this.#session(target);
    if (session.closed || session.destroyed) {
      this.#sessions.delete(keyOf(target));
      return this.#h2(target, req, signal);
    }
    const stream = session.request({
      ":method": req.method,
      ":path": req.path,
      ":authority": req.authority,
      ":scheme": "http",
      ...req.headers,
    });
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

  #agent(target: HttpTarget): Agent {
    const key = keyOf(target);
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxSockets: 1024 });
      // Node's Agent takes a callback here, so the connection may be made asynchronously.
      (agent as unknown as { createConnection: unknown }).createConnection = (
        _opts: unknown,
        done: (err: Error | null, socket?: Socket) => void,
      ) => {
        this.#connect(target, ["http/1.1"]).then(
          (s) => done(null, s),
          (e: Error) => done(e),
        );
      };
      this.#agents.set(key, agent);
    }
    return agent;
  }

  #h1(target: HttpTarget, req: ProxyRequest, signal: AbortSignal): Promise<ProxyResponse> {
    return new Promise((resolve, reject) => {
      const outgoing = h1Request({
        agent: this.#agent(target),
        method: req.method,
        path: req.path,
        headers: { ...req.headers, host: req.authority },
        signal,
      });
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
    });
  }
}

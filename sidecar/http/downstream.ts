// The downstream side of L7: an accepted connection (plaintext from the app, or mTLS from a
// peer sidecar) served as HTTP/1.1 or HTTP/2, each request turned into a ProxyRequest for
// the handler and its ProxyResponse streamed back — status, headers, body and trailers
// (gRPC's grpc-status) — or, when the handler fails, the one local reply rescue() gives.

import { createServer as h1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  type Http2ServerRequest,
  type Http2ServerResponse,
  createServer as h2Server,
} from "node:http2";
import type { Duplex } from "node:stream";
import type { Mutable } from "../shapes.js";
import { type RequestEvent, type RequestRecord, requestChannel } from "../telemetry/events.js";
import {
  Cancellation,
  forwardableHeaders,
  type Headers,
  ProxyError,
  type ProxyRequest,
  type ProxyResponse,
  type RequestSignal,
} from "./contract.js";
import { rescue } from "./rescue.js";

export type HttpHandler = (request: ProxyRequest, signal: RequestSignal) => Promise<ProxyResponse>;

export interface HttpServers {
  /** Serve `socket` with HTTP/2 (h2 or h2c prior knowledge) or HTTP/1.1. */
  serve(socket: Duplex, protocol: "h2" | "http/1.1"): void;
  close(): void;
}

/** HTTP/2's connection preface: a plaintext connection that starts so is h2c. */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Who serves the connection, for the request events. */
export interface ConnectionContext {
  readonly sidecar: string;
  readonly direction: "inbound" | "outbound";
  readonly peerPrincipal?: string;
  readonly mtls: boolean;
}

export function httpServers(
  handler: HttpHandler,
  options: {
    scheme: "http" | "https";
    context: ConnectionContext;
    log?: (m: string, f?: Record<string, unknown>) => void;
  },
): HttpServers {
  const onRequest = (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
  ) => void respond(handler, options.scheme, options.context, req, res, options.log);
  const h1 = h1Server({ keepAliveTimeout: 60_000 }, onRequest);
  const h2 = h2Server({}, onRequest);
  h2.on("sessionError", () => {});
  return {
    serve(socket, protocol) {
      (protocol === "h2" ? h2 : h1).emit("connection", socket);
    },
    close() {
      h1.close();
      h2.close();
    },
  };
}

async function respond(
  handler: HttpHandler,
  scheme: "http" | "https",
  context: ConnectionContext,
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  log?: (m: string, f?: Record<string, unknown>) => void,
): Promise<void> {
  const raw = req.headers as Record<string, string | string[] | undefined>;
  const authority = String(raw[":authority"] ?? raw.host ?? "");
  const grpc = String(raw["content-type"] ?? "").startsWith("application/grpc");
  const started = performance.now();
  const record: RequestRecord = {};
  const request: ProxyRequest = {
    method: req.method ?? "GET",
    path: req.url ?? "/",
    authority,
    scheme,
    headers: forwardableHeaders(raw),
    body: req,
    grpc,
    record,
  };
  let status = 0;
  let grpcStatus: string | undefined;
  let error: string | undefined;
  const abort = new Cancellation();
  res.once("close", () => {
    // Closed before the response finished: the caller went away; stop the upstream work.
    if (!res.writableFinished) abort.abort();
    if (!requestChannel.hasSubscribers) return;
    // Object.assign, not spreads (shapes.ts: one hidden class for all events).
    const event: Mutable<RequestEvent> = Object.assign({}, context, record, {
      attempts: record.attempts ?? 1,
      protocol: grpc ? ("grpc" as const) : ("http" as const),
      method: request.method,
      path: request.path,
      authority,
      status,
      durationMs: performance.now() - started,
    });
    if (grpcStatus !== undefined) event.grpcStatus = grpcStatus;
    if (error) event.error = error;
    requestChannel.publish(event);
  });
  let upstream: ProxyResponse;
  try {
    upstream = await handler(request, abort);
  } catch (err) {
    const e = err instanceof ProxyError ? err : new ProxyError("UPSTREAM_RESET", String(err));
    const reply = rescue(e.code, e.message, e.status);
    log?.("local reply", { code: e.code, status: reply.status, path: request.path });
    error = e.code;
    status = grpc ? 200 : reply.status;
    if (grpc) grpcStatus = String(reply.grpcStatus);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (grpc) {
      trailersOnly(res, 200, {
        "content-type": "application/grpc",
        "grpc-status": String(reply.grpcStatus),
        "grpc-message": encodeURIComponent(reply.message),
        "x-trellis-error": e.code,
      });
    } else {
      res.writeHead(reply.status, {
        "content-type": "text/plain",
        "x-trellis-error": e.code,
        // Envoy's header for a circuit breaker's 503, which clients and dashboards know.
        ...(e.code === "OVERFLOW" ? { "x-envoy-overloaded": "true" } : {}),
      });
      res.end(`${reply.message}\n`);
    }
    return;
  }
  const headers = upstream.headers;
  status = upstream.status;
  // A gRPC error is often "trailers-only": grpc-status in the one HEADERS frame, which must
  // end the stream (a client reads a later END_STREAM without trailers as a broken call).
  if (headers["grpc-status"] !== undefined) {
    grpcStatus = String(headers["grpc-status"]);
    upstream.body.resume();
    trailersOnly(res, upstream.status, headers);
    return;
  }
  // HTTP/1.1 can carry trailers only chunked: no `trailer` header to announce them.
  const h1 = !("httpVersionMajor" in req && req.httpVersionMajor === 2);
  res.writeHead(
    upstream.status,
    h1 && headers.trailer !== undefined ? without(headers, "trailer") : headers,
  );
  upstream.body.on("error", () => res.destroy());
  upstream.body.pipe(res as NodeJS.WritableStream, { end: false });
  upstream.body.once("end", () => {
    void upstream.trailers.then((trailers) => {
      if (trailers["grpc-status"] !== undefined) grpcStatus = String(trailers["grpc-status"]);
      if (Object.keys(trailers).length > 0) res.addTrailers(trailers as Record<string, string>);
      res.end();
    });
  });
}

/** A copy of `headers` without `name` (not `delete`, which turns the object into a dictionary). */
function without(headers: Headers, name: string): Headers {
  const out: Headers = {};
  for (const k in headers) if (k !== name) out[k] = headers[k] as string | string[];
  return out;
}

/** Headers that end the response: one HEADERS frame with END_STREAM over HTTP/2. */
function trailersOnly(
  res: ServerResponse | Http2ServerResponse,
  status: number,
  headers: Record<string, string | string[]>,
): void {
  if ("stream" in res && res.stream) {
    res.stream.respond({ ":status": status, ...headers }, { endStream: true });
    return;
  }
  res.writeHead(status, headers);
  res.end();
}

// The one request contract of the sidecar's L7 path (undici's dispatch, in spirit): a
// request goes in, a response comes out, bodies are streams both ways and never buffered
// whole. Routing, retries, timeouts and authorization are wrappers around a Dispatch;
// failures are ProxyErrors with a stable code, turned into a status in one place
// (rescue.ts), at the edge.

import type { Readable } from "node:stream";
import type { RequestRecord } from "../telemetry/events.js";

export type Headers = Record<string, string | string[]>;

export interface ProxyRequest {
  readonly method: string;
  /** :path, with the query string. */
  readonly path: string;
  readonly authority: string;
  readonly scheme: "http" | "https";
  /** Lower-case names; no pseudo-headers, no hop-by-hop headers. */
  readonly headers: Headers;
  readonly body: Readable;
  /** content-type application/grpc…: errors answer with grpc-status, not an HTTP status. */
  readonly grpc: boolean;
  /** What the stages learn (route, cluster, endpoint, attempts), for the request's event. */
  readonly record?: RequestRecord;
}

export interface ProxyResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Readable;
  /** The trailers, once the body has ended (HTTP/2; gRPC's grpc-status lives there). */
  readonly trailers: Promise<Headers>;
}

/**
 * What cancels a request: the part of AbortSignal the L7 path uses, so a real AbortSignal
 * fits, and so does a Cancellation.
 */
export type RequestSignal = Pick<
  AbortSignal,
  "aborted" | "reason" | "addEventListener" | "removeEventListener"
>;

/**
 * The request path's AbortController and signal in one. Node 20's AbortSignal gets a hidden
 * class of its own each time one is made (it is created as an EventTarget whose prototype
 * is then swapped; ../shapes.ts), and the sidecar made one or more per request; a subclass
 * of EventTarget shares one.
 */
export class Cancellation extends EventTarget implements RequestSignal {
  aborted = false;
  reason: unknown = undefined;

  abort(reason: unknown = new DOMException("This operation was aborted", "AbortError")): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.dispatchEvent(new Event("abort"));
  }
}

/** One attempt at a response; `signal` aborts it (timeouts, a downstream reset). */
export type Dispatch = (request: ProxyRequest, signal: RequestSignal) => Promise<ProxyResponse>;

export type ProxyErrorCode =
  | "NO_VIRTUAL_HOST"
  | "NO_ROUTE"
  | "DIRECT_RESPONSE"
  | "NOT_SUPPORTED"
  | "CLUSTER_NOT_FOUND"
  | "NO_HEALTHY_UPSTREAM"
  | "UPSTREAM_CONNECT_FAILED"
  | "UPSTREAM_CONNECT_TIMEOUT"
  | "UPSTREAM_TLS_FAILED"
  | "UPSTREAM_PEER_IDENTITY"
  | "UPSTREAM_TIMEOUT"
  | "UPSTREAM_RESET"
  | "OVERFLOW"
  | "RBAC_DENIED";

export class ProxyError extends Error {
  override readonly name = "ProxyError";
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    /** For DIRECT_RESPONSE: the status the route configuration gives. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded; `te: trailers` is kept for gRPC. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);

export function forwardableHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const out: Headers = {};
  const named = String(raw.connection ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const [name, value] of Object.entries(raw)) {
    const n = name.toLowerCase();
    if (value === undefined || n.startsWith(":") || HOP_BY_HOP.has(n) || named.includes(n))
      continue;
    if (n === "te" && String(value).toLowerCase() !== "trailers") continue;
    out[n] = value;
  }
  return out;
}

// The sidecar's telemetry as events on node:diagnostics_channel (undici's way): the data
// path publishes one event per finished request and two per TCP connection (open, close)
// and imports no metrics or tracing code; observers — the Prometheus registry here, the
// tracing and flow exporters later — subscribe. Publishing to a channel nobody listens to costs a check.

import { channel } from "node:diagnostics_channel";

export const REQUEST_CHANNEL = "trellis:sidecar:request";
export const CONNECTION_CHANNEL = "trellis:sidecar:connection";

export const requestChannel = channel(REQUEST_CHANNEL);
export const connectionChannel = channel(CONNECTION_CHANNEL);

interface Common {
  /** The node id of the sidecar that reports (one process may hold several in tests). */
  readonly sidecar: string;
  /** outbound: this pod is the client (reporter=source); inbound: the server (reporter=destination). */
  readonly direction: "inbound" | "outbound";
  /** The peer's SPIFFE ID when mTLS verified it (inbound), or the upstream's (outbound). */
  readonly peerPrincipal?: string;
  /** The xDS cluster the traffic went to ("outbound|80||web.shop.svc.cluster.local", "inbound|8080||"). */
  readonly cluster?: string;
  /** address:port of the endpoint. */
  readonly endpoint?: string;
  readonly mtls: boolean;
  readonly durationMs: number;
}

export interface RequestEvent extends Common {
  readonly protocol: "http" | "grpc";
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly route?: string;
  readonly status: number;
  readonly grpcStatus?: string;
  /** Attempts made (1 without retries). */
  readonly attempts: number;
  /** A local reply's code (x-trellis-error), else undefined. */
  readonly error?: string;
  readonly traceId?: string;
  readonly spanId?: string;
  readonly parentSpanId?: string;
}

export interface ConnectionEvent extends Common {
  /** "open" when the upstream is connected; "close" with the byte counts when it ends. */
  readonly phase: "open" | "close";
  readonly sentBytes: number;
  readonly receivedBytes: number;
  readonly error?: string;
}

/** What the stages of one request learn, for its event (the L7 path fills it in as it goes). */
export interface RequestRecord {
  route?: string;
  cluster?: string;
  endpoint?: string;
  attempts?: number;
  /** This hop's span (W3C ids, hex): the span the sidecar records for the request. */
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
}

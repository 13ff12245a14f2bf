// The access log: one JSON line per request this sidecar handled — Envoy's default fields
// under their usual names — written to a stream (stdout from `trellis sidecar --access-log`).
// Off unless asked for; another subscriber to the request events.

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Writable } from "node:stream";
import { REQUEST_CHANNEL, type RequestEvent } from "./events.js";

export class AccessLog {
  readonly #onRequest = (message: unknown) => {
    const e = message as RequestEvent;
    if (e.sidecar !== this.sidecar) return;
    this.out.write(
      `${JSON.stringify({
        start_time: new Date(Date.now() - e.durationMs).toISOString(),
        direction: e.direction,
        method: e.method,
        path: e.path,
        authority: e.authority,
        protocol: e.protocol,
        response_code: e.status,
        grpc_status: e.grpcStatus ?? null,
        response_flags: e.error ?? "-",
        duration_ms: Math.round(e.durationMs * 1000) / 1000,
        upstream_cluster: e.cluster ?? null,
        upstream_host: e.endpoint ?? null,
        route_name: e.route ?? null,
        attempts: e.attempts,
        peer_principal: e.peerPrincipal ?? null,
        mtls: e.mtls,
        trace_id: e.traceId ?? null,
        span_id: e.spanId ?? null,
      })}\n`,
    );
  };

  constructor(
    readonly sidecar: string,
    readonly out: Writable,
  ) {
    subscribe(REQUEST_CHANNEL, this.#onRequest);
  }

  close(): void {
    unsubscribe(REQUEST_CHANNEL, this.#onRequest);
  }
}

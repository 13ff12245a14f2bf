// The one place where what went wrong becomes what the caller sees (linkerd's rescue):
// no route 404, no cluster or no healthy upstream 503, connect failure 503, timeout 504,
// overflow 503, upstream reset 502, authorization 403 — and for gRPC callers an HTTP 200
// with the matching grpc-status (Envoy's mapping), since gRPC clients read that. Every
// local reply says why in x-trellis-error (as Envoy's x-envoy-… details).

import type { ProxyErrorCode } from "./contract.js";

export interface LocalReply {
  readonly status: number;
  readonly grpcStatus: number;
  readonly message: string;
}

const STATUS: Record<ProxyErrorCode, number> = {
  NO_VIRTUAL_HOST: 404,
  NO_ROUTE: 404,
  DIRECT_RESPONSE: 200,
  NOT_SUPPORTED: 501,
  CLUSTER_NOT_FOUND: 503,
  NO_HEALTHY_UPSTREAM: 503,
  UPSTREAM_CONNECT_FAILED: 503,
  UPSTREAM_CONNECT_TIMEOUT: 503,
  UPSTREAM_TLS_FAILED: 503,
  UPSTREAM_PEER_IDENTITY: 503,
  UPSTREAM_TIMEOUT: 504,
  UPSTREAM_RESET: 502,
  OVERFLOW: 503,
  RBAC_DENIED: 403,
};

/** grpc-status by HTTP status, as Envoy maps a local reply for a gRPC request. */
export function grpcStatusOf(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
    case 501:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

export function rescue(code: ProxyErrorCode, message: string, status?: number): LocalReply {
  const http = status ?? STATUS[code];
  // A timeout is DEADLINE_EXCEEDED to a gRPC caller, whatever the HTTP mapping says.
  const grpcStatus = code === "UPSTREAM_TIMEOUT" ? 4 : grpcStatusOf(http);
  return { status: http, grpcStatus, message: `${code}: ${message}` };
}

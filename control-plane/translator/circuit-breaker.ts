// The trellis.dev/circuit-breaker annotation on a Service: Istio's DestinationRule
// connectionPool limits, in one line — "maxConnections=100, maxPendingRequests=10,
// maxRequests=50" (or Istio's own names, http1MaxPendingRequests and http2MaxRequests; any
// subset) — turned into the Envoy circuit_breakers of the Service's clusters: one
// threshold at the DEFAULT priority. What is left out stays at Envoy's default, 1024.
// Pure; a bad value is a problem to warn about, and the clusters then keep the defaults.

import type { XdsMessage } from "../../api/xds-proto.js";
import { Enum, wrap } from "./proto.js";

export const CIRCUIT_BREAKER_ANNOTATION = "trellis.dev/circuit-breaker";

export type CircuitBreakerResult =
  | { readonly ok: true; readonly circuitBreakers: XdsMessage }
  | { readonly ok: false; readonly problem: string };

const THRESHOLDS: Record<string, string> = {
  maxConnections: "max_connections",
  maxPendingRequests: "max_pending_requests",
  http1MaxPendingRequests: "max_pending_requests",
  maxRequests: "max_requests",
  http2MaxRequests: "max_requests",
};

const MAX_UINT32 = 0xffffffff;

export function circuitBreakersOf(value: string): CircuitBreakerResult {
  const threshold: XdsMessage = { priority: Enum.DEFAULT_PRIORITY };
  for (const part of value
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [key = "", raw = ""] = part.split("=").map((s) => s.trim());
    const field = THRESHOLDS[key];
    if (field === undefined) {
      return {
        ok: false,
        problem: `${JSON.stringify(key)} is not one of maxConnections, maxPendingRequests, maxRequests`,
      };
    }
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > MAX_UINT32)
      return { ok: false, problem: `${key}: ${JSON.stringify(raw)} is not a whole number ≥ 1` };
    threshold[field] = wrap(n);
  }
  return { ok: true, circuitBreakers: { thresholds: [threshold] } };
}

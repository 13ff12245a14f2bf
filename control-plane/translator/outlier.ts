// The trellis.dev/outlier-detection annotation on a Service: Istio's DestinationRule
// outlierDetection, in one line — "consecutive5xx=5, baseEjectionTime=30s,
// maxEjectionPercent=10, interval=10s" (Istio's field names; any subset) — turned into the
// Envoy OutlierDetection of the Service's sidecar clusters. Pure; a bad value is a problem
// to warn about, and the cluster then gets none.

import type { XdsMessage } from "../../api/xds-proto.js";
import { parseDuration } from "../../certs/index.js";
import { duration, wrap } from "./proto.js";

export const OUTLIER_DETECTION_ANNOTATION = "trellis.dev/outlier-detection";

export type OutlierResult =
  | { readonly ok: true; readonly detection: XdsMessage }
  | { readonly ok: false; readonly problem: string };

const COUNTS: Record<string, string> = {
  consecutive5xx: "consecutive_5xx",
  consecutiveErrors: "consecutive_5xx",
  consecutiveGatewayErrors: "consecutive_gateway_failure",
};
const DURATIONS: Record<string, string> = {
  baseEjectionTime: "base_ejection_time",
  interval: "interval",
};

export function outlierDetectionOf(value: string): OutlierResult {
  const detection: XdsMessage = {};
  for (const part of value
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [key = "", raw = ""] = part.split("=").map((s) => s.trim());
    if (COUNTS[key] !== undefined) {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1)
        return { ok: false, problem: `${key}: ${JSON.stringify(raw)} is not a whole number ≥ 1` };
      detection[COUNTS[key]] = wrap(n);
    } else if (DURATIONS[key] !== undefined) {
      const ms = parseDuration(raw);
      if (ms === undefined || ms <= 0)
        return {
          ok: false,
          problem: `${key}: ${JSON.stringify(raw)} is not a duration such as 30s`,
        };
      detection[DURATIONS[key]] = duration(ms);
    } else if (key === "maxEjectionPercent") {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0 || n > 100)
        return { ok: false, problem: `${key}: ${JSON.stringify(raw)} is not a percentage` };
      detection.max_ejection_percent = wrap(n);
    } else {
      return {
        ok: false,
        problem: `${JSON.stringify(key)} is not one of consecutive5xx, consecutiveGatewayErrors, baseEjectionTime, interval, maxEjectionPercent`,
      };
    }
  }
  return { ok: true, detection };
}

// Circuit breaking per cluster, as Envoy's thresholds (circuit_breakers.thresholds, the
// DEFAULT priority): at most max_requests requests in flight to a cluster — 1024 unless the
// cluster says otherwise — and past that the request fails fast with OVERFLOW (503) instead
// of queueing behind a struggling upstream. Retries are bounded separately (retry.ts).

import type { XdsMessage } from "../../api/xds-proto.js";
import { Tally } from "../proxy/tally.js";

/** Envoy's defaults for each threshold. */
export const DEFAULT_MAX_REQUESTS = 1024;

export class CircuitBreakers {
  readonly #active = new Tally();

  /** A slot for one request to `cluster`, or undefined when its breaker is open. */
  admit(clusterName: string, cluster: XdsMessage | undefined): (() => void) | undefined {
    if (this.#active.count(clusterName) >= maxRequests(cluster)) return undefined;
    return this.#active.begin(clusterName);
  }

  active(clusterName: string): number {
    return this.#active.count(clusterName);
  }
}

function maxRequests(cluster: XdsMessage | undefined): number {
  const thresholds = ((cluster?.circuit_breakers as XdsMessage | undefined)?.thresholds ??
    []) as XdsMessage[];
  const byDefault = thresholds.find((t) => (t.priority ?? "DEFAULT") === "DEFAULT");
  const value = (byDefault?.max_requests as { value?: number } | undefined)?.value;
  return typeof value === "number" && value >= 0 ? value : DEFAULT_MAX_REQUESTS;
}

// Outlier detection as Envoy's, for clusters that ask for it (Cluster.outlier_detection):
// an endpoint that answers consecutive_5xx server errors in a row (connect failures and
// resets count as errors, as Envoy's locally originated failures do) is ejected for
// base_ejection_time × the times it has been ejected (at most max_ejection_time), unless
// that would eject more than max_ejection_percent of the cluster (one ejection is always
// allowed). It returns when its time is up. The clock is injected for tests.

import type { XdsMessage } from "../../api/xds-proto.js";
import { durationMs } from "./duration.js";

export type Outcome = "success" | "error";

interface Settings {
  readonly consecutive5xx: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly maxEjectionPercent: number;
}

interface EndpointState {
  consecutive: number;
  ejections: number;
  ejectedUntil: number;
}

/** Outlier detection's settings, or undefined when the cluster has none (nothing is ejected). */
export function outlierSettings(cluster: XdsMessage | undefined): Settings | undefined {
  const od = cluster?.outlier_detection as XdsMessage | undefined;
  if (!od) return undefined;
  const num = (v: unknown, d: number) => {
    const n = (v as { value?: number } | undefined)?.value;
    return typeof n === "number" ? n : d;
  };
  const base = durationMs(od.base_ejection_time) ?? 30_000;
  return {
    consecutive5xx: num(od.consecutive_5xx, 5),
    baseEjectionMs: base,
    maxEjectionMs: Math.max(base, durationMs(od.max_ejection_time) ?? 300_000),
    maxEjectionPercent: num(od.max_ejection_percent, 10),
  };
}

export class OutlierDetector {
  readonly #clusters = new Map<string, Map<string, EndpointState>>();
  /** Bumped whenever the ejected set of a cluster changes: pickers are rebuilt on it. */
  readonly #versions = new Map<string, number>();

  constructor(readonly now: () => number = Date.now) {}

  version(cluster: string): number {
    this.#expire(cluster);
    return this.#versions.get(cluster) ?? 0;
  }

  isEjected(cluster: string, endpoint: string): boolean {
    return (this.#clusters.get(cluster)?.get(endpoint)?.ejectedUntil ?? 0) > this.now();
  }

  /** Records one outcome of a request to `endpoint` of a cluster with `hosts` endpoints. */
  report(
    cluster: string,
    endpoint: string,
    outcome: Outcome,
    settings: Settings,
    hosts: number,
  ): void {
    let states = this.#clusters.get(cluster);
    if (!states) {
      states = new Map();
      this.#clusters.set(cluster, states);
    }
    let s = states.get(endpoint);
    if (!s) {
      s = { consecutive: 0, ejections: 0, ejectedUntil: 0 };
      states.set(endpoint, s);
    }
    if (outcome === "success") {
      s.consecutive = 0;
      return;
    }
    s.consecutive++;
    if (s.consecutive < settings.consecutive5xx || this.isEjected(cluster, endpoint)) return;
    const ejected = [...states.values()].filter((x) => x.ejectedUntil > this.now()).length;
    if (ejected > 0 && (ejected * 100) / Math.max(1, hosts) >= settings.maxEjectionPercent) return;
    s.ejections++;
    s.consecutive = 0;
    s.ejectedUntil =
      this.now() + Math.min(settings.maxEjectionMs, settings.baseEjectionMs * s.ejections);
    this.#versions.set(cluster, (this.#versions.get(cluster) ?? 0) + 1);
  }

  /** An ejection whose time is up changes the set too. */
  #expire(cluster: string): void {
    const states = this.#clusters.get(cluster);
    if (!states) return;
    const now = this.now();
    for (const s of states.values()) {
      if (s.ejectedUntil !== 0 && s.ejectedUntil <= now) {
        s.ejectedUntil = 0;
        this.#versions.set(cluster, (this.#versions.get(cluster) ?? 0) + 1);
      }
    }
  }
}

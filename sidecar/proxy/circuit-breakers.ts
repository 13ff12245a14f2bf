// Circuit breaking per cluster, as Envoy's thresholds (circuit_breakers.thresholds, the
// DEFAULT priority), shared by the L4 and L7 paths: max_connections — upstream connections
// open or opening to the cluster (a TCP proxy's, a pooled HTTP/1.1 socket, an HTTP/2
// session each count one); max_pending_requests — requests waiting for a connection (one
// being opened for them, or a busy pool's next free one); max_requests — requests in
// flight. Each is 1024 unless the cluster says otherwise. Past a threshold the request
// fails fast with OVERFLOW (503, x-envoy-overloaded) and a TCP connection is refused,
// instead of queueing behind a struggling upstream; each refusal is counted against the
// threshold that made it. Retries are bounded separately (http/retry.ts).

import type { XdsMessage } from "../../api/xds-proto.js";
import { Tally } from "./tally.js";

/** Envoy's default for each threshold. */
export const DEFAULT_MAX_REQUESTS = 1024;
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_PENDING_REQUESTS = 1024;

export type Threshold = "max_connections" | "max_pending_requests" | "max_requests";

/** A cluster's thresholds, read from its circuit_breakers. */
export interface CircuitLimits {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
}

export const DEFAULT_LIMITS: CircuitLimits = {
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  maxPendingRequests: DEFAULT_MAX_PENDING_REQUESTS,
  maxRequests: DEFAULT_MAX_REQUESTS,
};

const limitsByCluster = new WeakMap<XdsMessage, CircuitLimits>();

/** The DEFAULT-priority thresholds of a decoded Cluster (read once per Cluster object). */
export function circuitLimits(cluster: XdsMessage | undefined): CircuitLimits {
  if (!cluster) return DEFAULT_LIMITS;
  let limits = limitsByCluster.get(cluster);
  if (limits) return limits;
  const thresholds = ((cluster.circuit_breakers as XdsMessage | undefined)?.thresholds ??
    []) as XdsMessage[];
  const byDefault = thresholds.find((t) => (t.priority ?? "DEFAULT") === "DEFAULT");
  // A UInt32Value: {value: 3}, and {} for 0 (proto3 leaves it off the wire).
  const read = (field: string, fallback: number) => {
    const wrapper = byDefault?.[field] as { value?: number | string } | undefined;
    return wrapper === undefined ? fallback : Number(wrapper.value ?? 0);
  };
  limits = {
    maxConnections: read("max_connections", DEFAULT_MAX_CONNECTIONS),
    maxPendingRequests: read("max_pending_requests", DEFAULT_MAX_PENDING_REQUESTS),
    maxRequests: read("max_requests", DEFAULT_MAX_REQUESTS),
  };
  limitsByCluster.set(cluster, limits);
  return limits;
}

export interface CircuitStats {
  readonly connections: number;
  readonly pendingRequests: number;
  readonly requests: number;
  /** Refusals (and, for max_connections, waits) by the threshold that made them. */
  readonly overflows: Readonly<Record<Threshold, number>>;
}

export class CircuitBreakers {
  readonly #requests = new Tally();
  readonly #pending = new Tally();
  readonly #connections = new Tally();
  readonly #overflows = new Map<string, Record<Threshold, number>>();

  /** A slot for one request to `cluster`, or undefined when max_requests are in flight. */
  admit(clusterName: string, cluster: XdsMessage | undefined): (() => void) | undefined {
    if (this.#requests.count(clusterName) >= circuitLimits(cluster).maxRequests) {
      this.overflow(clusterName, "max_requests");
      return undefined;
    }
    return this.#requests.begin(clusterName);
  }

  /** A slot for a request waiting for a connection, or undefined past max_pending_requests. */
  pend(clusterName: string, limits: CircuitLimits): (() => void) | undefined {
    if (this.#pending.count(clusterName) >= limits.maxPendingRequests) {
      this.overflow(clusterName, "max_pending_requests");
      return undefined;
    }
    return this.#pending.begin(clusterName);
  }

  /** Whether one more connection to the cluster stays within max_connections. */
  mayConnect(clusterName: string, limits: CircuitLimits): boolean {
    return this.#connections.count(clusterName) < limits.maxConnections;
  }

  /** Counts one connection to the cluster, open or opening; call the result when it closes. */
  connection(clusterName: string): () => void {
    return this.#connections.begin(clusterName);
  }

  /** Counts a refusal (or a wait) caused by `threshold`. */
  overflow(clusterName: string, threshold: Threshold): void {
    let counts = this.#overflows.get(clusterName);
    if (!counts) {
      counts = { max_connections: 0, max_pending_requests: 0, max_requests: 0 };
      this.#overflows.set(clusterName, counts);
    }
    counts[threshold]++;
  }

  active(clusterName: string): number {
    return this.#requests.count(clusterName);
  }

  pending(clusterName: string): number {
    return this.#pending.count(clusterName);
  }

  connections(clusterName: string): number {
    return this.#connections.count(clusterName);
  }

  stats(clusterName: string): CircuitStats {
    return {
      connections: this.connections(clusterName),
      pendingRequests: this.pending(clusterName),
      requests: this.active(clusterName),
      overflows: { ...(this.#overflows.get(clusterName) ?? NO_OVERFLOWS) },
    };
  }
}

/** "1 request", "2 requests": for the overflow messages. */
export function howMany(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

const NO_OVERFLOWS: Readonly<Record<Threshold, number>> = {
  max_connections: 0,
  max_pending_requests: 0,
  max_requests: 0,
};

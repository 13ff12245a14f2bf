// Prometheus metrics with Istio's names and labels, so existing dashboards and `linkerd
// viz`-style tools read a Trellis sidecar as they read an Envoy: istio_requests_total,
// istio_request_duration_milliseconds (Istio's buckets), istio_tcp_sent_bytes_total,
// istio_tcp_received_bytes_total, istio_tcp_connections_opened_total / _closed_total.
// Fed by the diagnostics_channel events of one sidecar (its node id).

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import {
  CONNECTION_CHANNEL,
  type ConnectionEvent,
  REQUEST_CHANNEL,
  type RequestEvent,
} from "./events.js";

/** Istio's default buckets for istio_request_duration_milliseconds. */
const BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000,
];

export interface Workload {
  readonly name: string;
  readonly namespace: string;
  readonly principal: string;
}

type Labels = Record<string, string>;

/** One istio_requests_total series and its istio_request_duration_milliseconds histogram. */
interface RequestSeries {
  /** The exposition's label text, without braces. */
  readonly labels: string;
  count: number;
  /** Cumulative, one per BUCKETS entry. */
  readonly buckets: number[];
  sum: number;
}

interface TcpSeries {
  readonly labels: string;
  sent: number;
  received: number;
  opened: number;
  closed: number;
}

/**
 * The series of an event key not seen before: the one with its label text, else a new one;
 * remembered under the key. Only on a miss: the hot path's lookup is byEvent.get alone.
 */
function seriesOf<T>(
  byEvent: Map<string, T>,
  byLabels: Map<string, T>,
  id: string,
  labelsOf: () => string,
  make: (labels: string) => T,
): T {
  const labels = labelsOf();
  let series = byLabels.get(labels);
  if (!series) {
    series = make(labels);
    byLabels.set(labels, series);
  }
  byEvent.set(id, series);
  return series;
}

/** Label values escaped as the exposition format wants: backslash, quote, newline. */
const escapeLabel = (v: string) =>
  v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const labelText = (labels: Labels) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(",");

/** outbound|80||web.shop.svc.cluster.local → web.shop.svc.cluster.local */
function serviceOf(cluster: string | undefined): { host: string; name: string; namespace: string } {
  const host = cluster?.startsWith("outbound|") ? (cluster.split("|")[3] ?? "") : "";
  const [name = "unknown", namespace = "unknown"] = host.split(".");
  return {
    host: host || "unknown",
    name: host ? name : "unknown",
    namespace: host ? namespace : "unknown",
  };
}

/** spiffe://td/ns/NS/sa/SA → NS */
const namespaceOfPrincipal = (p?: string) => /\/ns\/([^/]+)\//.exec(p ?? "")?.[1] ?? "unknown";

export class SidecarMetrics {
  /** By label text: one per series, as the exposition wants. */
  readonly #requests = new Map<string, RequestSeries>();
  readonly #tcp = new Map<string, TcpSeries>();
  /**
   * The same series by the event fields their labels are made of: the hot path's lookup.
   * Several keys may share one series (outbound labels do not say whether mTLS was used).
   */
  readonly #requestsByEvent = new Map<string, RequestSeries>();
  readonly #tcpByEvent = new Map<string, TcpSeries>();
  readonly #onRequest = (e: unknown) => this.#request(e as RequestEvent);
  readonly #onConnection = (e: unknown) => this.#connection(e as ConnectionEvent);

  constructor(
    readonly sidecar: string,
    readonly self: Workload,
  ) {
    subscribe(REQUEST_CHANNEL, this.#onRequest);
    subscribe(CONNECTION_CHANNEL, this.#onConnection);
  }

  close(): void {
    unsubscribe(REQUEST_CHANNEL, this.#onRequest);
    unsubscribe(CONNECTION_CHANNEL, this.#onConnection);
  }

  /** The labels Istio's standard metrics carry, from this sidecar's point of view. */
  #peerLabels(e: RequestEvent | ConnectionEvent): Labels {
    const service = serviceOf(e.cluster);
    const outbound = e.direction === "outbound";
    const peerNs = namespaceOfPrincipal(e.peerPrincipal);
    return {
      reporter: outbound ? "source" : "destination",
      source_workload: outbound ? this.self.name : "unknown",
      source_workload_namespace: outbound ? this.self.namespace : peerNs,
      source_principal: outbound ? this.self.principal : (e.peerPrincipal ?? "unknown"),
      destination_workload: outbound ? "unknown" : this.self.name,
      destination_workload_namespace: outbound ? peerNs : this.self.namespace,
      destination_principal: outbound ? (e.peerPrincipal ?? "unknown") : this.self.principal,
      destination_service: service.host,
      destination_service_name: service.name,
      destination_service_namespace: service.namespace,
      connection_security_policy: outbound ? "unknown" : e.mtls ? "mutual_tls" : "none",
    };
  }

  /**
   * The series a request counts in. Its label text is built once per distinct series; each
   * request finds its series by the few event fields the labels are made of, so the hot path
   * concatenates one short key and does no escaping or object building.
   */
  #requestSeries(e: RequestEvent): RequestSeries {
    const id = `${e.direction}|${e.cluster ?? ""}|${e.peerPrincipal ?? ""}|${e.mtls ? 1 : 0}|${e.protocol}|${e.status}|${e.grpcStatus ?? ""}|${e.error ?? ""}`;
    const known = this.#requestsByEvent.get(id);
    if (known) return known;
    return seriesOf(
      this.#requestsByEvent,
      this.#requests,
      id,
      () =>
        labelText({
          ...this.#peerLabels(e),
          request_protocol: e.protocol,
          response_code: String(e.status),
          grpc_response_status: e.grpcStatus ?? "",
          response_flags: e.error ?? "-",
        }),
      (labels) => ({
        labels,
        count: 0,
        buckets: new Array<number>(BUCKETS.length).fill(0),
        sum: 0,
      }),
    );
  }

  #request(e: RequestEvent): void {
    if (e.sidecar !== this.sidecar) return;
    const series = this.#requestSeries(e);
    series.count++;
    series.sum += e.durationMs;
    // Cumulative buckets: every bucket at or above the duration counts it.
    const buckets = series.buckets;
    for (let i = BUCKETS.length - 1; i >= 0 && e.durationMs <= (BUCKETS[i] as number); i--) {
      buckets[i] = (buckets[i] as number) + 1;
    }
  }

  #connection(e: ConnectionEvent): void {
    if (e.sidecar !== this.sidecar) return;
    const id = `${e.direction}|${e.cluster ?? ""}|${e.peerPrincipal ?? ""}|${e.mtls ? 1 : 0}|${e.error ?? ""}`;
    const t =
      this.#tcpByEvent.get(id) ??
      seriesOf(
        this.#tcpByEvent,
        this.#tcp,
        id,
        () => labelText({ ...this.#peerLabels(e), response_flags: e.error ?? "-" }),
        (labels) => ({ labels, sent: 0, received: 0, opened: 0, closed: 0 }),
      );
    if (e.phase === "open") {
      t.opened++;
    } else {
      t.closed++;
      t.sent += e.sentBytes;
      t.received += e.receivedBytes;
    }
  }

  /** The Prometheus text exposition format (version 0.0.4). */
  render(): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family("istio_requests_total", "counter", "Requests, by source, destination and response.");
    for (const r of this.#requests.values())
      lines.push(`istio_requests_total{${r.labels}} ${r.count}`);
    family(
      "istio_request_duration_milliseconds",
      "histogram",
      "Request durations in milliseconds.",
    );
    for (const h of this.#requests.values()) {
      const k = h.labels;
      BUCKETS.forEach((b, i) => {
        lines.push(`istio_request_duration_milliseconds_bucket{${k},le="${b}"} ${h.buckets[i]}`);
      });
      lines.push(`istio_request_duration_milliseconds_bucket{${k},le="+Inf"} ${h.count}`);
      lines.push(`istio_request_duration_milliseconds_sum{${k}} ${h.sum}`);
      lines.push(`istio_request_duration_milliseconds_count{${k}} ${h.count}`);
    }
    const tcp: [string, string, "sent" | "received" | "opened" | "closed"][] = [
      ["istio_tcp_sent_bytes_total", "Bytes sent to the peer over TCP connections.", "sent"],
      [
        "istio_tcp_received_bytes_total",
        "Bytes received from the peer over TCP connections.",
        "received",
      ],
      ["istio_tcp_connections_opened_total", "TCP connections opened.", "opened"],
      ["istio_tcp_connections_closed_total", "TCP connections closed.", "closed"],
    ];
    for (const [name, help, field] of tcp) {
      family(name, "counter", help);
      for (const t of this.#tcp.values()) lines.push(`${name}{${t.labels}} ${t[field]}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

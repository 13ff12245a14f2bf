// The application protocol of a Service port, as Istio decides it without sniffing:
// appProtocol first, then the port name's prefix before "-", else TCP. Trellis never
// sniffs: an undeclared port is opaque TCP. UDP and SCTP ports are not meshed at all.

import type { ServicePort } from "../../api/types.js";

export type PortProtocol =
  | "http"
  | "http2"
  | "grpc"
  | "grpc-web"
  | "https"
  | "tls"
  | "tcp"
  | "mongo"
  | "mysql"
  | "redis";

const NAMES: Readonly<Record<string, PortProtocol>> = {
  http: "http",
  http2: "http2",
  grpc: "grpc",
  "grpc-web": "grpc-web",
  https: "https",
  tls: "tls",
  tcp: "tcp",
  mongo: "mongo",
  mysql: "mysql",
  redis: "redis",
  // Kubernetes' standard appProtocol names.
  "kubernetes.io/h2c": "http2",
  "kubernetes.io/ws": "http",
  "kubernetes.io/wss": "https",
};

/** A protocol from a name ("grpc", "http-metrics", "kubernetes.io/h2c", "GRPC"), or undefined. */
export function parseProtocolName(name: string | undefined): PortProtocol | undefined {
  if (!name) return undefined;
  const lower = name.toLowerCase();
  const whole = NAMES[lower];
  if (whole) return whole;
  // "grpc-web" contains the separator itself, so check it before cutting at "-".
  if (lower.startsWith("grpc-web-")) return "grpc-web";
  const dash = lower.indexOf("-");
  return dash > 0 ? NAMES[lower.slice(0, dash)] : undefined;
}

/**
 * The protocol of a Service port, or undefined for a port the mesh does not carry (UDP,
 * SCTP). An unrecognised appProtocol falls back to the port name (Istio would sniff).
 */
export function servicePortProtocol(
  port: Pick<ServicePort, "name" | "appProtocol" | "protocol">,
): PortProtocol | undefined {
  if (port.protocol !== undefined && port.protocol !== "TCP") return undefined;
  return parseProtocolName(port.appProtocol) ?? parseProtocolName(port.name) ?? "tcp";
}

/** Routed by the HTTP connection manager (RDS on the way out, HCM on the way in). */
export function isHttpLike(protocol: PortProtocol): boolean {
  return (
    protocol === "http" || protocol === "http2" || protocol === "grpc" || protocol === "grpc-web"
  );
}

/** The upstream connection must speak HTTP/2 (prior knowledge / h2c) to the app. */
export function needsHttp2(protocol: PortProtocol): boolean {
  return protocol === "http2" || protocol === "grpc";
}

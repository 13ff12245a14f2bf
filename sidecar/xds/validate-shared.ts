// What the sidecar's xDS resource validators share: a Check that also gathers the names a
// resource refers to (the ADS client subscribes to them, the assembler waits for them), and
// the checks for shapes that recur across types — proto3 strings and wrappers, durations,
// oneofs, Any type URLs, socket addresses, ADS config sources and TLS transport sockets.

import { isIP } from "node:net";
import { at, Check, checkPortNumber, isRec, type Rec, show } from "../../api/validate-common.js";
import { TYPE_URL_PREFIX } from "../../api/xds-proto.js";

/** The issues of one resource, and what it refers to (meaningful only when there are none). */
export class XdsCheck extends Check {
  readonly eds = new Set<string>();
  readonly rds = new Set<string>();
  readonly clusters = new Set<string>();
  readonly secrets = new Set<string>();
}

/** In proto3 an absent string and "" are the same value, so both get the same message. */
export function nonEmpty(c: XdsCheck, v: unknown, path: string): string | undefined {
  if (typeof v === "string" && v !== "") return v;
  c.add(path, "must not be empty");
  return undefined;
}

/** The number in a UInt32Value (`{value: 3}`; `{}` is 0), or undefined when it is not set. */
export function uint32(v: unknown): number | undefined {
  return isRec(v) ? Number(v.value ?? 0) : undefined;
}

/**
 * Checks a google.protobuf.Duration (`{seconds: "5", nanos: 0}`, seconds an int64 string) if
 * it is set. The wire allows negative durations; a timeout cannot be one.
 */
export function checkDuration(
  c: XdsCheck,
  v: unknown,
  path: string,
  rule: "non-negative" | "positive",
): void {
  if (!isRec(v)) return;
  const seconds = Number(v.seconds ?? 0);
  const nanos = Number(v.nanos ?? 0);
  const sign = Math.sign(seconds) || Math.sign(nanos);
  const text = `${seconds + nanos / 1e9}s`;
  if (sign < 0) c.add(path, `must not be negative, got ${text}`);
  else if (sign === 0 && rule === "positive") c.add(path, `must be positive, got ${text}`);
}

/**
 * The one member of a oneof that is set. A correct encoder sets at most one, but "none" is
 * common: a variant the sidecar does not implement (`unsupported`) decodes as none of those
 * it does.
 */
export function exactlyOne<K extends string>(
  c: XdsCheck,
  obj: Rec,
  keys: readonly K[],
  path: string,
  unsupported: readonly string[] = [],
): K | undefined {
  const set = keys.filter((k) => obj[k] !== undefined && obj[k] !== null);
  if (set.length === 1) return set[0];
  const other = unsupported.filter((k) => obj[k] !== undefined && obj[k] !== null);
  const has =
    set.length > 1
      ? `has ${set.join(" and ")}`
      : other.length > 0
        ? `has ${other.join(" and ")}, which the sidecar does not support`
        : "has none";
  c.add(path, `must set exactly one of ${keys.join(", ")}; ${has}`);
  return undefined;
}

/** The type URL of an unpacked Any: `@type` when the type is known, else the raw `type_url`. */
function anyType(v: Rec): string | undefined {
  const t = v["@type"] ?? v.type_url;
  return typeof t === "string" ? t : undefined;
}

/** An unpacked Any at `path` that must hold `fullName` (like "envoy.….v3.TcpProxy"). */
export function checkAny(c: XdsCheck, v: unknown, path: string, fullName: string): Rec | undefined {
  const any = c.map(v, path, { required: true });
  if (!any) return undefined;
  const got = anyType(any);
  if (got === TYPE_URL_PREFIX + fullName) return any;
  // Not show(): type URLs are long, and the end is the part that tells them apart.
  c.add(path, `must hold ${fullName}, got ${got === undefined ? "no type" : JSON.stringify(got)}`);
  return undefined;
}

/**
 * `address.socket_address` with an address and a port. Listeners bind, and EDS/STATIC
 * endpoints are connected to, without a DNS lookup, so those must be IP literals; only the
 * DNS cluster types (`hostnames`) name hosts.
 */
export function checkSocketAddress(c: XdsCheck, v: unknown, path: string, hostnames = false): void {
  const address = c.map(v, path, { required: true });
  const socketPath = at(path, "socket_address");
  const socket = address && c.map(address.socket_address, socketPath, { required: true });
  if (!socket) return;
  const host = nonEmpty(c, socket.address, at(socketPath, "address"));
  if (host !== undefined && !hostnames && isIP(host) === 0) {
    c.add(at(socketPath, "address"), `must be an IP address, got ${show(host)}`);
  }
  // proto3 leaves port 0 off the wire: absent is 0, and 0 is not a port.
  checkPortNumber(c, socket.port_value ?? 0, at(socketPath, "port_value"));
}

/** A ConfigSource the sidecar can follow: it fetches everything over its one ADS stream. */
export function checkAdsSource(c: XdsCheck, v: unknown, path: string): void {
  const source = c.map(v, path, { required: true });
  if (source && source.ads === undefined && source.self === undefined) {
    c.add(path, "must be ads (or self): the sidecar fetches every resource over its ADS stream");
  }
}

const TLS_SOCKET = "envoy.transport_sockets.tls";
const RAW_SOCKET = "envoy.transport_sockets.raw_buffer";
const TLS_PACKAGE = "envoy.extensions.transport_sockets.tls.v3";

/**
 * A transport socket: plaintext, or TLS with the context for this side of the connection.
 * Anything else is refused rather than skipped, since skipping it would mean plaintext.
 */
export function checkTransportSocket(
  c: XdsCheck,
  v: unknown,
  path: string,
  context: "UpstreamTlsContext" | "DownstreamTlsContext",
): void {
  const socket = c.map(v, path);
  if (!socket || socket.name === RAW_SOCKET) return;
  if (socket.name !== TLS_SOCKET) {
    c.add(
      at(path, "name"),
      `${show(socket.name ?? "")} is not a transport socket the sidecar supports (${TLS_SOCKET}, ${RAW_SOCKET})`,
    );
    return;
  }
  const configPath = at(path, "typed_config");
  const tls = checkAny(c, socket.typed_config, configPath, `${TLS_PACKAGE}.${context}`);
  const commonPath = at(configPath, "common_tls_context");
  const common = tls && c.map(tls.common_tls_context, commonPath);
  if (common) checkSdsConfigs(c, common, commonPath);
}

/** The SDS secrets of a CommonTlsContext; those fetched over ADS become references. */
function checkSdsConfigs(c: XdsCheck, common: Rec, path: string): void {
  const configs = c.maps(
    common.tls_certificate_sds_secret_configs,
    at(path, "tls_certificate_sds_secret_configs"),
  );
  const single = (v: unknown, p: string) => {
    const config = c.map(v, p);
    if (config) configs.push([config, p]);
  };
  single(
    common.validation_context_sds_secret_config,
    at(path, "validation_context_sds_secret_config"),
  );
  const combinedPath = at(path, "combined_validation_context");
  const combined = c.map(common.combined_validation_context, combinedPath);
  if (combined) {
    single(
      combined.validation_context_sds_secret_config,
      at(combinedPath, "validation_context_sds_secret_config"),
    );
  }
  for (const [config, p] of configs) {
    const name = nonEmpty(c, config.name, at(p, "name"));
    if (name !== undefined && isRec(config.sds_config) && config.sds_config.ads !== undefined) {
      c.secrets.add(name);
    }
  }
}

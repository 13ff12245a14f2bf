// Who is on the other end of an ADS stream: DiscoveryRequest.node → ProxyNode. Reads the
// node metadata keys Istio's proxies and proxyless gRPC bootstraps send (NAMESPACE, NAME,
// SERVICE_ACCOUNT, LABELS, INSTANCE_IPS, GENERATOR), falling back to an Istio-style node id
// "sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local". The metadata Struct is accepted both as
// protobufjs decodes it ({fields: {K: {stringValue | string_value …}}}) and as plain JSON.

import type { ProxyNode } from "./xds/types.js";

export interface RawNode {
  readonly id?: string;
  readonly cluster?: string;
  /** google.protobuf.Struct, Struct-encoded or plain JSON. */
  readonly metadata?: unknown;
  readonly locality?: { region?: string; zone?: string; sub_zone?: string } | null;
  readonly user_agent_name?: string;
}

export class NodeError extends Error {
  override readonly name = "NodeError";
  readonly code = "NODE_INVALID";
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The kinds of google.protobuf.Value, in both field spellings. */
const VALUE_KINDS: readonly [string, string][] = [
  ["stringValue", "string_value"],
  ["numberValue", "number_value"],
  ["boolValue", "bool_value"],
  ["structValue", "struct_value"],
  ["listValue", "list_value"],
  ["nullValue", "null_value"],
];

function isStruct(v: unknown): v is { fields: Record<string, unknown> } {
  return isObject(v) && Object.keys(v).length === 1 && isObject(v.fields);
}

function fromValue(v: unknown): unknown {
  if (!isObject(v)) return v;
  for (const [camel, snake] of VALUE_KINDS) {
    const inner = v[camel] ?? v[snake];
    if (inner === undefined) continue;
    if (camel === "structValue") return fromStruct(inner);
    if (camel === "listValue") {
      const values = isObject(inner) && Array.isArray(inner.values) ? inner.values : [];
      return values.map(fromValue);
    }
    return camel === "nullValue" ? null : inner;
  }
  return undefined;
}

/** A Struct (either form) as plain JSON; plain JSON is returned as it is. */
export function fromStruct(v: unknown): Record<string, unknown> {
  if (isStruct(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, value] of Object.entries(v.fields)) out[k] = fromValue(value);
    return out;
  }
  return isObject(v) ? v : {};
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function labelsOf(v: unknown): Record<string, string> {
  const raw = typeof v === "string" ? safeJson(v) : fromStruct(v);
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(isObject(raw) ? raw : {})) {
    if (typeof value === "string") out[k] = value;
  }
  return out;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** "sidecar~10.1.2.3~web-1.shop~shop.svc.cluster.local" → its parts, if it has that form. */
export function parseIstioNodeId(
  id: string,
): { ip?: string; podName?: string; namespace?: string } | undefined {
  const parts = id.split("~");
  if (parts.length !== 4) return undefined;
  const [, ip, podId = "", domain = ""] = parts;
  const namespace = str(domain.split(".")[0]);
  let podName = podId;
  if (namespace !== undefined && podId.endsWith(`.${namespace}`)) {
    podName = podId.slice(0, -namespace.length - 1);
  } else if (podId.includes(".")) {
    podName = podId.slice(0, podId.lastIndexOf("."));
  }
  return { ip: str(ip), podName: str(podName), namespace };
}

export function parseNode(raw: RawNode): ProxyNode {
  const id = raw.id;
  if (typeof id !== "string" || id === "") {
    throw new NodeError("node.id is empty: every xDS client must send a node id (the cache key)");
  }
  const meta = fromStruct(raw.metadata);
  const fromId = parseIstioNodeId(id);
  const userAgent = str(raw.user_agent_name);
  const proxyless = /^grpc/i.test(userAgent ?? "") || str(meta.GENERATOR)?.toLowerCase() === "grpc";
  const ips = (str(meta.INSTANCE_IPS) ?? fromId?.ip ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const locality = raw.locality
    ? {
        ...(str(raw.locality.region) ? { region: raw.locality.region } : {}),
        ...(str(raw.locality.zone) ? { zone: raw.locality.zone } : {}),
        ...(str(raw.locality.sub_zone) ? { sub_zone: raw.locality.sub_zone } : {}),
      }
    : undefined;
  const node: ProxyNode = {
    id,
    kind: proxyless ? "proxyless" : "sidecar",
    namespace: str(meta.NAMESPACE) ?? fromId?.namespace,
    podName: str(meta.NAME) ?? fromId?.podName,
    serviceAccount: str(meta.SERVICE_ACCOUNT),
    labels: labelsOf(meta.LABELS),
    ips,
    locality,
    userAgent,
  };
  // Leave absent fields out rather than undefined, so nodes compare and print cleanly.
  return Object.fromEntries(Object.entries(node).filter(([, v]) => v !== undefined)) as ProxyNode;
}

// The Envoy xDS v3 protos, loaded once into one protobufjs Root from the copies that ship
// inside @grpc/grpc-js-xds (deps/envoy-api, deps/xds, deps/googleapis,
// deps/protoc-gen-validate). Shared by the control plane and the sidecar: the type URLs,
// Any packing and unpacking, and the ADS service definition for @grpc/grpc-js.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";

const require = createRequire(import.meta.url);
const depsDir = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
const INCLUDE_DIRS = [
  ...["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => join(depsDir, d)),
  // google/protobuf/descriptor.proto (the well-known types are built into protobufjs)
  dirname(require.resolve("protobufjs/package.json")),
];

/** Every .proto whose messages Trellis sends or reads (their imports come along). */
const PROTO_FILES = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/transport_sockets/tls/v3/secret.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/network/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/fault/v3/fault.proto",
  "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto",
  "envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto",
  "envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto",
  "envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto",
  "envoy/extensions/load_balancing_policies/random/v3/random.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
];

export const TYPE_URL_PREFIX = "type.googleapis.com/";

/** The xDS resource types Trellis serves, by their short names. */
export const TypeUrl = {
  Listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  RouteConfiguration: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  Cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  ClusterLoadAssignment: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  Secret: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
} as const;
export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** Make-before-break: a proxy must have what a resource refers to before the resource. */
export const PUSH_ORDER: readonly TypeUrl[] = [
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Secret,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
];

let cached: protobuf.Root | undefined;

/** The Root with every Envoy type above resolved (loaded on first use, ~100 ms). */
export function xdsRoot(): protobuf.Root {
  if (cached) return cached;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of INCLUDE_DIRS) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();
  cached = root;
  return root;
}

export function messageType(fullName: string): protobuf.Type {
  const name = fullName.startsWith(TYPE_URL_PREFIX)
    ? fullName.slice(TYPE_URL_PREFIX.length)
    : fullName;
  return xdsRoot().lookupType(name);
}

/** Plain-object message (snake_case fields, Any values as `{"@type": url, ...fields}`). */
export type XdsMessage = Record<string, unknown>;

/** An Any holding `message` of `typeUrl`, encoded. */
export function packAny(typeUrl: string, message: XdsMessage): { type_url: string; value: Buffer } {
  const type = messageType(typeUrl);
  const err = type.verify(message);
  if (err) throw new Error(`${typeUrl}: ${err}`);
  return { type_url: typeUrl, value: Buffer.from(type.encode(type.fromObject(message)).finish()) };
}

/** The plain object inside an Any (nested Anys unpacked to `{"@type": …}` too). */
export function unpackAny(any: { type_url: string; value: Uint8Array }): XdsMessage {
  const type = messageType(any.type_url);
  return type.toObject(type.decode(any.value), TO_OBJECT) as XdsMessage;
}

export const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: false,
  json: true,
};

/** One of the two ADS methods' message types, as @grpc/grpc-js (de)serializers. */
function codec<T extends XdsMessage>(fullName: string) {
  return {
    serialize: (msg: T): Buffer => {
      const type = messageType(fullName);
      return Buffer.from(type.encode(type.fromObject(msg)).finish());
    },
    deserialize: (buf: Buffer): T => {
      const type = messageType(fullName);
      return type.toObject(type.decode(buf), DECODED) as T;
    },
  };
}

/**
 * Decoded messages keep Any as `{type_url, value}` (not unpacked): the xDS layers unpack
 * resources themselves, one at a time, so that one bad resource is one NACK, not a
 * broken stream.
 */
const DECODED: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: false,
};

const ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService";

/** DiscoveryRequest.resource_names: field 3, length-delimited. */
const RESOURCE_NAMES_TAG = (3 << 3) | 2;
/** Below this many bytes of names, decoding them is cheaper than looking them up. */
const SHARED_NAMES_MIN_BYTES = 1024;
const SHARED_NAMES_MAX_LISTS = 256;
const sharedNames = new Map<string, readonly string[]>();

/**
 * A DiscoveryRequest whose resource_names are decoded once per distinct list. A SotW proxy
 * repeats its whole subscription in every ACK — after one endpoint change, 1,000 sidecars
 * each send their 1,000 EDS names — and the sidecars of a namespace mostly subscribe to the
 * same names. So the bytes of the names are looked up among the recent lists (a frozen
 * array, shared: callers never change a request), and only the rest of the message is
 * decoded each time.
 */
function decodeDiscoveryRequest(type: protobuf.Type, buf: Buffer): XdsMessage {
  const reader = protobuf.Reader.create(buf);
  let start = -1;
  let end = -1;
  let contiguous = true;
  while (reader.pos < reader.len) {
    const at = reader.pos;
    const tag = reader.uint32();
    if (tag === RESOURCE_NAMES_TAG) {
      reader.skip(reader.uint32());
      if (start === -1) start = at;
      else if (at !== end) contiguous = false;
      end = reader.pos;
    } else {
      reader.skipType(tag & 7);
    }
  }
  if (start === -1 || !contiguous || end - start < SHARED_NAMES_MIN_BYTES) {
    return type.toObject(type.decode(buf), DECODED) as XdsMessage;
  }
  const key = buf.toString("latin1", start, end);
  let names = sharedNames.get(key);
  if (names === undefined) {
    const r = protobuf.Reader.create(buf.subarray(start, end));
    const list: string[] = [];
    while (r.pos < r.len) {
      r.uint32();
      list.push(r.string());
    }
    names = Object.freeze(list);
    if (sharedNames.size >= SHARED_NAMES_MAX_LISTS) {
      sharedNames.delete(sharedNames.keys().next().value as string);
    }
    sharedNames.set(key, names);
  }
  const rest = Buffer.concat([buf.subarray(0, start), buf.subarray(end)]);
  const message = type.toObject(type.decode(rest), DECODED) as XdsMessage;
  message.resource_names = names;
  return message;
}

/**
 * The AggregatedDiscoveryService for @grpc/grpc-js (a ServiceDefinition: pass it to
 * `server.addService` or `makeGenericClientConstructor`). Messages are plain objects with
 * snake_case fields; resources are `{type_url, value}` Anys (packAny / unpackAny).
 */
export function adsServiceDefinition() {
  const req = codec<XdsMessage>("envoy.service.discovery.v3.DiscoveryRequest");
  req.deserialize = (buf: Buffer) =>
    decodeDiscoveryRequest(messageType("envoy.service.discovery.v3.DiscoveryRequest"), buf);
  const res = codec<XdsMessage>("envoy.service.discovery.v3.DiscoveryResponse");
  const dreq = codec<XdsMessage>("envoy.service.discovery.v3.DeltaDiscoveryRequest");
  const dres = codec<XdsMessage>("envoy.service.discovery.v3.DeltaDiscoveryResponse");
  return {
    StreamAggregatedResources: {
      path: `${ADS}/StreamAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: req.serialize,
      requestDeserialize: req.deserialize,
      responseSerialize: res.serialize,
      responseDeserialize: res.deserialize,
    },
    DeltaAggregatedResources: {
      path: `${ADS}/DeltaAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: dreq.serialize,
      requestDeserialize: dreq.deserialize,
      responseSerialize: dres.serialize,
      responseDeserialize: dres.deserialize,
    },
  } as const;
}

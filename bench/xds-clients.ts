// The simulated proxies of `npm run bench -- xds`, in a process of their own (forked by
// bench/xds.ts): each one an ADS stream on its own connection, subscribing as an Envoy
// sidecar does — every Cluster (wildcard), the endpoints of each EDS cluster, every Listener
// (wildcard), the route configuration of each HTTP port, the ROOTCA secret — and ACKing
// every response. Resources are not decoded beyond a Cluster's name: a response is ACKed
// as soon as it arrives, so what is measured is the control plane's side.

import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";
import { adsServiceDefinition, TypeUrl, type XdsMessage } from "../api/xds-proto.js";
import { ROOT_CA_SECRET, routeConfigName } from "../control-plane/translator/names.js";

export interface ClientsRequest {
  readonly target: string;
  readonly protocol: "sotw" | "delta";
  /** Proxies [first, first + count) of the mesh's proxy list. */
  readonly first: number;
  readonly count: number;
  /** How many namespaces the proxies are spread over. */
  readonly namespaces: number;
}

export type ClientsReport =
  | { readonly kind: "ready"; readonly proxies: number; readonly retries: number }
  | { readonly kind: "error"; readonly message: string };

// Requests that are already bytes go out as they are: a SotW ACK repeats the 1,000 names of
// its subscription, encoded once per subscription here, as cheaply as Envoy's C++ would.
const definition = adsServiceDefinition();
const passBytes =
  (serialize: (m: XdsMessage) => Buffer) =>
  (m: XdsMessage | Buffer): Buffer =>
    Buffer.isBuffer(m) ? m : serialize(m);
const Ads = grpc.makeGenericClientConstructor(
  {
    StreamAggregatedResources: {
      ...definition.StreamAggregatedResources,
      requestSerialize: passBytes(definition.StreamAggregatedResources.requestSerialize),
    },
    DeltaAggregatedResources: {
      ...definition.DeltaAggregatedResources,
      requestSerialize: passBytes(definition.DeltaAggregatedResources.requestSerialize),
    },
  } as unknown as grpc.ServiceDefinition,
  "AggregatedDiscoveryService",
);

/** DiscoveryRequest.resource_names (field 3), encoded. */
function encodeNames(names: readonly string[]): Buffer {
  const w = protobuf.Writer.create();
  for (const name of names) w.uint32((3 << 3) | 2).string(name);
  return Buffer.from(w.finish());
}

/** A SotW ACK: version_info (1), type_url (4), response_nonce (5), then the names. */
function encodeAck(version: string, typeUrl: string, nonce: string, names: Buffer): Buffer {
  const w = protobuf.Writer.create();
  if (version) w.uint32((1 << 3) | 2).string(version);
  w.uint32((4 << 3) | 2).string(typeUrl);
  w.uint32((5 << 3) | 2).string(nonce);
  return Buffer.concat([w.finish(), names]);
}

type Call = grpc.ClientDuplexStream<XdsMessage | Buffer, XdsMessage>;

/** The node a simulated sidecar sends: the metadata keys of an Istio proxy. */
export function proxyNode(i: number, namespaces: number): XdsMessage {
  const ns = `ns-${i % namespaces}`;
  const pod = `client-${i}`;
  const ip = `10.250.${(i >> 8) & 255}.${i & 255}`;
  return {
    id: `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`,
    metadata: {
      fields: {
        NAMESPACE: { string_value: ns },
        NAME: { string_value: pod },
        SERVICE_ACCOUNT: { string_value: "client" },
        INSTANCE_IPS: { string_value: ip },
        LABELS: { struct_value: { fields: { app: { string_value: "client" } } } },
      },
    },
  };
}

/** A Cluster's name without decoding the rest: field 1 comes first on the wire. */
function clusterName(any: { value: Uint8Array }): string {
  const reader = protobuf.Reader.create(any.value);
  return reader.uint32() === 10 ? reader.string() : "";
}

const isEds = (name: string) => name.startsWith("outbound|");
/** outbound|<port>||<host> → <host>:<port>, the route configuration of an HTTP port. */
function routeOf(cluster: string): string {
  const [, port = "", , host = ""] = cluster.split("|");
  return routeConfigName(host, Number(port));
}

const NEEDED = [
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
] as const;

/**
 * One sidecar's ADS stream. A stream that fails before the proxy is in sync is opened again
 * after a jittered backoff, as Envoy does (a control plane under a connection storm resets
 * some); one that fails later is reported, since the measurement would be wrong.
 */
class SimulatedProxy {
  #call!: Call;
  /** Per type, the subscription's resource_names, encoded for the ACKs. */
  readonly #names = new Map<string, Buffer>();
  readonly #acked = new Set<string>();
  #first = true;
  #closing = false;
  #ready = false;
  #attempt = 0;

  constructor(
    readonly client: grpc.Client & Record<string, () => Call>,
    readonly protocol: "sotw" | "delta",
    readonly node: XdsMessage,
    readonly onReady: () => void,
    readonly onError: (e: Error) => void,
    readonly onRetry: () => void,
  ) {
    this.#open();
  }

  #open(): void {
    const call = (
      this.protocol === "sotw"
        ? this.client.StreamAggregatedResources?.()
        : this.client.DeltaAggregatedResources?.()
    ) as Call;
    this.#call = call;
    this.#first = true;
    this.#names.clear();
    this.#acked.clear();
    call.on("data", (r: XdsMessage) => {
      if (call === this.#call) this.#onResponse(r);
    });
    let failedOnce = false;
    const failed = (e: Error) => {
      if (this.#closing || call !== this.#call || failedOnce) return;
      failedOnce = true;
      if (this.#ready) {
        this.onError(e);
        return;
      }
      this.#attempt++;
      this.onRetry();
      const backoff = Math.min(5_000, 100 * 2 ** this.#attempt) * (0.5 + Math.random());
      setTimeout(() => {
        if (!this.#closing) this.#open();
      }, backoff);
    };
    call.on("error", failed);
    call.on("end", () => failed(new Error("the server ended the stream")));
    this.#subscribe(TypeUrl.Cluster, ["*"]);
    this.#subscribe(TypeUrl.Listener, ["*"]);
  }

  #send(request: XdsMessage): void {
    if (this.#first) {
      this.#first = false;
      this.#call.write({ node: this.node, ...request });
    } else {
      this.#call.write(request);
    }
  }

  #subscribe(typeUrl: string, names: string[]): void {
    this.#names.set(typeUrl, encodeNames(names));
    if (this.protocol === "sotw") {
      this.#send({ type_url: typeUrl, resource_names: names });
    } else {
      this.#send({ type_url: typeUrl, resource_names_subscribe: names });
    }
  }

  #onResponse(r: XdsMessage): void {
    const typeUrl = r.type_url as string;
    if (this.protocol === "sotw") {
      const names = this.#names.get(typeUrl) ?? Buffer.alloc(0);
      this.#call.write(encodeAck(String(r.version_info ?? ""), typeUrl, String(r.nonce), names));
    } else {
      this.#call.write({ type_url: typeUrl, response_nonce: r.nonce });
    }
    if (typeUrl === TypeUrl.Cluster && !this.#names.has(TypeUrl.ClusterLoadAssignment)) {
      const names =
        this.protocol === "sotw"
          ? (r.resources as { value: Uint8Array }[]).map(clusterName)
          : (r.resources as { name: string }[]).map((x) => x.name);
      const eds = names.filter(isEds);
      this.#subscribe(TypeUrl.ClusterLoadAssignment, eds);
      this.#subscribe(TypeUrl.RouteConfiguration, eds.map(routeOf));
      this.#subscribe(TypeUrl.Secret, [ROOT_CA_SECRET]);
    }
    if (!this.#ready) {
      this.#acked.add(typeUrl);
      if (NEEDED.every((t) => this.#acked.has(t))) {
        this.#ready = true;
        this.onReady();
      }
    }
  }

  close(): void {
    this.#closing = true;
    this.#call.cancel();
  }
}

/**
 * Proxies connect as a rollout brings them up: at most CONNECTING at a time per process
 * are still waiting for their first configuration, the next one starting as one is in
 * sync. (All at once, the control plane's accept queue overflows and the kernel resets
 * connections: a reconnect storm, which is a different benchmark.)
 */
const CONNECTING = 50;

function run(req: ClientsRequest): void {
  const clients: grpc.Client[] = [];
  const proxies: SimulatedProxy[] = [];
  let ready = 0;
  let retries = 0;
  let started = 0;
  const report = (r: ClientsReport) => process.send?.(r);
  const onError = (e: Error) => report({ kind: "error", message: e.message });
  const onReady = () => {
    if (++ready === req.count) report({ kind: "ready", proxies: ready, retries });
    else startMore();
  };
  const startMore = () => {
    while (started < req.count && started - ready < CONNECTING) {
      // One connection per proxy (a local subchannel pool: grpc-js would otherwise share one).
      const client = new Ads(req.target, grpc.credentials.createInsecure(), {
        "grpc.use_local_subchannel_pool": 1,
        "grpc.max_receive_message_length": 256 * 1024 * 1024,
      }) as unknown as grpc.Client & Record<string, () => Call>;
      clients.push(client);
      const node = proxyNode(req.first + started, req.namespaces);
      proxies.push(
        new SimulatedProxy(client, req.protocol, node, onReady, onError, () => retries++),
      );
      started++;
    }
  };
  startMore();
  process.on("message", (m: { kind?: string }) => {
    if (m.kind !== "stop") return;
    for (const p of proxies) p.close();
    for (const c of clients) c.close();
    process.exit(0);
  });
}

process.once("message", (req: ClientsRequest) => {
  try {
    run(req);
  } catch (e) {
    process.send?.({ kind: "error", message: (e as Error).message } satisfies ClientsReport);
    process.exit(1);
  }
});

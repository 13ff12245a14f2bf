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
  | { readonly kind: "ready"; readonly proxies: number }
  | { readonly kind: "error"; readonly message: string };

const Ads = grpc.makeGenericClientConstructor(
  adsServiceDefinition() as unknown as grpc.ServiceDefinition,
  "AggregatedDiscoveryService",
);

type Call = grpc.ClientDuplexStream<XdsMessage, XdsMessage>;

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

class SimulatedProxy {
  readonly #call: Call;
  readonly #names = new Map<string, string[]>();
  readonly #acked = new Set<string>();
  #first = true;
  #closing = false;
  #ready = false;

  constructor(
    client: grpc.Client & Record<string, () => Call>,
    readonly protocol: "sotw" | "delta",
    readonly node: XdsMessage,
    readonly onReady: () => void,
    readonly onError: (e: Error) => void,
  ) {
    this.#call = (
      protocol === "sotw"
        ? client.StreamAggregatedResources?.()
        : client.DeltaAggregatedResources?.()
    ) as Call;
    this.#call.on("data", (r: XdsMessage) => this.#onResponse(r));
    this.#call.on("error", (e: grpc.ServiceError) => {
      if (!this.#closing) onError(e);
    });
    this.#call.on("end", () => {
      if (!this.#closing) onError(new Error("the server ended the stream"));
    });
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
    this.#names.set(typeUrl, names);
    if (this.protocol === "sotw") {
      this.#send({ type_url: typeUrl, resource_names: names });
    } else {
      this.#send({ type_url: typeUrl, resource_names_subscribe: names });
    }
  }

  #onResponse(r: XdsMessage): void {
    const typeUrl = r.type_url as string;
    if (this.protocol === "sotw") {
      this.#call.write({
        type_url: typeUrl,
        version_info: r.version_info,
        response_nonce: r.nonce,
        resource_names: this.#names.get(typeUrl) ?? [],
      });
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

async function run(req: ClientsRequest): Promise<void> {
  const clients: grpc.Client[] = [];
  const proxies: SimulatedProxy[] = [];
  let ready = 0;
  const report = (r: ClientsReport) => process.send?.(r);
  const onError = (e: Error) => report({ kind: "error", message: e.message });
  // Connect in batches, as a rollout would, rather than all in one instant.
  const BATCH = 50;
  for (let i = 0; i < req.count; i += BATCH) {
    for (let j = i; j < Math.min(req.count, i + BATCH); j++) {
      // One connection per proxy (a local subchannel pool: grpc-js would otherwise share one).
      const client = new Ads(req.target, grpc.credentials.createInsecure(), {
        "grpc.use_local_subchannel_pool": 1,
        "grpc.max_receive_message_length": 256 * 1024 * 1024,
      }) as unknown as grpc.Client & Record<string, () => Call>;
      clients.push(client);
      proxies.push(
        new SimulatedProxy(
          client,
          req.protocol,
          proxyNode(req.first + j, req.namespaces),
          () => {
            if (++ready === req.count) report({ kind: "ready", proxies: ready });
          },
          onError,
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  process.on("message", (m: { kind?: string }) => {
    if (m.kind !== "stop") return;
    for (const p of proxies) p.close();
    for (const c of clients) c.close();
    process.exit(0);
  });
}

process.once("message", (req: ClientsRequest) => {
  run(req).catch((e: Error) => {
    process.send?.({ kind: "error", message: e.message } satisfies ClientsReport);
    process.exit(1);
  });
});

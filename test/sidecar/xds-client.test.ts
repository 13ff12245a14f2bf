// The sidecar's xDS client, driven through a scripted stream (no sockets): Envoy's
// subscription order, ACK and NACK, warming (a cluster waits for its endpoints, a listener
// for its routes), delta removals, and reconnecting with what it already holds while it
// keeps serving its last good config.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { packAny, TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import {
  type AdsStreamHandlers,
  type OpenStream,
  XdsClient,
  type XdsProtocol,
} from "../../sidecar/xds/client.js";

const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

const cluster = (name: string, extra: XdsMessage = {}): XdsMessage => ({
  name,
  type: 3, // EDS (packAny takes enums as numbers)
  connect_timeout: { seconds: 1 },
  eds_cluster_config: { eds_config: { ads: {} }, service_name: name },
  ...extra,
});
const cla = (name: string, ip = "10.0.0.1"): XdsMessage => ({
  cluster_name: name,
  endpoints: [
    {
      lb_endpoints: [
        { endpoint: { address: { socket_address: { address: ip, port_value: 80 } } } },
      ],
    },
  ],
});
const listener = (name: string, rds: string): XdsMessage => ({
  name,
  address: { socket_address: { address: "0.0.0.0", port_value: 15001 } },
  filter_chains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: {
            "@type": HCM,
            stat_prefix: name,
            rds: { config_source: { ads: {} }, route_config_name: rds },
            http_filters: [
              {
                name: "envoy.filters.http.router",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                },
              },
            ],
          },
        },
      ],
    },
  ],
});
const routes = (name: string, to: string): XdsMessage => ({
  name,
  virtual_hosts: [
    { name: "vh", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: to } }] },
  ],
});

/** A scripted server: records each stream's requests, answers when the test says. */
class Script {
  readonly streams: { requests: XdsMessage[]; handlers: AdsStreamHandlers; closed: boolean }[] = [];
  #nonce = 0;
  readonly open: OpenStream = (_protocol: XdsProtocol, handlers) => {
    const s = { requests: [] as XdsMessage[], handlers, closed: false };
    this.streams.push(s);
    return { send: (r) => s.requests.push(r), close: () => (s.closed = true) };
  };
  get last() {
    const s = this.streams[this.streams.length - 1];
    assert.ok(s, "no stream opened");
    return s;
  }
  /** The last request of `typeUrl` on the current stream. */
  request(typeUrl: string): XdsMessage | undefined {
    return this.last.requests.filter((r) => r.type_url === typeUrl).at(-1);
  }
  sotw(typeUrl: string, version: string, resources: XdsMessage[]): string {
    const nonce = String(++this.#nonce);
    this.last.handlers.onResponse({
      type_url: typeUrl,
      version_info: version,
      nonce,
      resources: resources.map((r) => packAny(typeUrl, r)),
    });
    return nonce;
  }
  delta(typeUrl: string, resources: [string, string, XdsMessage][], removed: string[] = []) {
    const nonce = String(++this.#nonce);
    this.last.handlers.onResponse({
      type_url: typeUrl,
      system_version_info: `sys-${nonce}`,
      nonce,
      resources: resources.map(([name, version, r]) => ({
        name,
        version,
        resource: packAny(typeUrl, r),
      })),
      removed_resources: removed,
    });
    return nonce;
  }
}

const NODE = { id: "sidecar~10.0.0.9~web-0.shop~shop.svc.cluster.local" };
const names = (m: ReadonlyMap<string, unknown>) => [...m.keys()].sort();

describe("XdsClient (SotW)", () => {
  it("subscribes like Envoy, ACKs, and puts clusters and listeners in service once warm", () => {
    const script = new Script();
    const client = new XdsClient({ protocol: "sotw", node: NODE, open: script.open });
    const configs: unknown[] = [];
    client.onConfig((c) => configs.push(c));
    client.start();
    const [first, second] = script.last.requests;
    assert.deepEqual(first, {
      type_url: TypeUrl.Cluster,
      node: NODE,
      version_info: "",
      resource_names: ["*"],
    });
    assert.equal(second?.type_url, TypeUrl.Listener);
    assert.equal(second?.node, undefined, "the node goes on the first request only");

    const n1 = script.sotw(TypeUrl.Cluster, "c1", [cluster("a")]);
    assert.deepEqual(script.request(TypeUrl.Cluster), {
      type_url: TypeUrl.Cluster,
      version_info: "c1",
      resource_names: ["*"],
      response_nonce: n1,
    });
    assert.deepEqual(script.request(TypeUrl.ClusterLoadAssignment)?.resource_names, ["a"]);
    assert.deepEqual(names(client.config.clusters), [], "cluster a warms until its endpoints come");
    assert.match(client.config.warming.join(), /Cluster a waits for endpoints a/);

    script.sotw(TypeUrl.ClusterLoadAssignment, "e1", [cla("a")]);
    assert.deepEqual(names(client.config.clusters), ["a"]);
    assert.deepEqual(names(client.config.endpoints), ["a"]);

    script.sotw(TypeUrl.Listener, "l1", [listener("virtualOutbound", "a:80")]);
    assert.deepEqual(script.request(TypeUrl.RouteConfiguration)?.resource_names, ["a:80"]);
    assert.deepEqual(names(client.config.listeners), []);
    assert.equal(client.synced, false);
    script.sotw(TypeUrl.RouteConfiguration, "r1", [routes("a:80", "a")]);
    assert.deepEqual(names(client.config.listeners), ["virtualOutbound"]);
    assert.equal(client.synced, true);
    assert.ok(configs.length >= 3);
    client.close();
  });

  it("NACKs a response with a bad resource, naming it, and keeps the last good config", () => {
    const script = new Script();
    const client = new XdsClient({ protocol: "sotw", node: NODE, open: script.open });
    client.start();
    script.sotw(TypeUrl.Cluster, "c1", [cluster("a")]);
    script.sotw(TypeUrl.ClusterLoadAssignment, "e1", [cla("a")]);
    const good = client.config;
    const nonce = script.sotw(TypeUrl.Cluster, "c2", [
      cluster("a"),
      cluster("b", { lb_policy: 5 /* MAGLEV */ }),
    ]);
    const nack = script.request(TypeUrl.Cluster);
    assert.equal(nack?.version_info, "c1", "a NACK carries the last accepted version");
    assert.equal(nack?.response_nonce, nonce);
    const detail = nack?.error_detail as { code: number; message: string };
    assert.equal(detail.code, 3);
    assert.match(detail.message, /^b: .*lb_policy/);
    assert.equal(client.config, good, "nothing changed");
    assert.deepEqual(names(client.config.clusters), ["a"]);
    const status = client.status().find((s) => s.typeUrl === TypeUrl.Cluster);
    assert.equal(status?.version, "c1");
    assert.match(status?.lastNack?.message ?? "", /lb_policy/);
    client.close();
  });

  it("reconnects after the stream fails, with its versions, serving the old config meanwhile", async () => {
    const script = new Script();
    const logs: string[] = [];
    const client = new XdsClient({
      protocol: "sotw",
      node: NODE,
      open: script.open,
      backoff: { baseMs: 5, maxMs: 20 },
      log: (m) => logs.push(m),
    });
    client.start();
    script.sotw(TypeUrl.Cluster, "c1", [cluster("a")]);
    script.sotw(TypeUrl.ClusterLoadAssignment, "e1", [cla("a")]);
    const served = client.config;
    script.last.handlers.onClose(new Error("connection reset"));
    assert.equal(client.connected, false);
    assert.equal(client.config, served);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(script.streams.length, 2, "a new stream");
    const again = script.last.requests;
    assert.equal(again[0]?.node, NODE, "the node again, on the new stream's first request");
    assert.deepEqual(
      again.map((r) => [r.type_url, r.version_info, r.resource_names]),
      [
        [TypeUrl.Cluster, "c1", ["*"]],
        [TypeUrl.ClusterLoadAssignment, "e1", ["a"]],
        [TypeUrl.Listener, "", ["*"]],
      ],
    );
    assert.match(logs.join("\n"), /serving the last good config and reconnecting/);
    client.close();
  });
});

describe("XdsClient (delta)", () => {
  it("applies upserts and removals, and sends initial_resource_versions after a reconnect", async () => {
    const script = new Script();
    const client = new XdsClient({
      protocol: "delta",
      node: NODE,
      open: script.open,
      backoff: { baseMs: 1, maxMs: 5 },
    });
    client.start();
    assert.deepEqual(script.request(TypeUrl.Cluster)?.resource_names_subscribe, ["*"]);
    const n = script.delta(TypeUrl.Cluster, [
      ["a", "va1", cluster("a")],
      ["b", "vb1", cluster("b")],
    ]);
    assert.deepEqual(script.request(TypeUrl.Cluster), {
      type_url: TypeUrl.Cluster,
      response_nonce: n,
    });
    assert.deepEqual(script.request(TypeUrl.ClusterLoadAssignment)?.resource_names_subscribe, [
      "a",
      "b",
    ]);
    script.delta(TypeUrl.ClusterLoadAssignment, [
      ["a", "ea1", cla("a")],
      ["b", "eb1", cla("b")],
    ]);
    assert.deepEqual(names(client.config.clusters), ["a", "b"]);

    script.delta(TypeUrl.Cluster, [], ["b"]);
    assert.deepEqual(names(client.config.clusters), ["a"]);
    const unsub = script.last.requests.at(-1);
    assert.deepEqual(
      unsub?.resource_names_unsubscribe,
      ["b"],
      "endpoints of a gone cluster are dropped",
    );

    script.last.handlers.onClose();
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(script.streams.length, 2);
    const cds = script.request(TypeUrl.Cluster);
    assert.deepEqual(cds?.initial_resource_versions, { a: "va1" });
    assert.deepEqual(script.request(TypeUrl.ClusterLoadAssignment)?.initial_resource_versions, {
      a: "ea1",
    });
    assert.deepEqual(names(client.config.clusters), ["a"], "still served");
    client.close();
  });

  it("NACKs a delta response whose resource is named differently inside", () => {
    const script = new Script();
    const client = new XdsClient({ protocol: "delta", node: NODE, open: script.open });
    client.start();
    script.delta(TypeUrl.Cluster, [["a", "v1", cluster("not-a")]]);
    const nack = script.request(TypeUrl.Cluster);
    assert.match(
      String((nack?.error_detail as { message?: string } | undefined)?.message),
      /named a .* not-a inside/,
    );
    assert.equal(client.config.clusters.size, 0);
    client.close();
  });
});

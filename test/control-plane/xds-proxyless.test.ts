// A proxyless gRPC client (@grpc/grpc-js-xds, plaintext SotW ADS) resolves an xds:/// target
// through the server, ACKs LDS → RDS → CDS → EDS, and its RPC reaches the backend. The
// snapshot is made by onStreamRequest on the node's first request, as the lead's glue does.

import assert from "node:assert/strict";
import { it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { TypeUrl } from "../../api/xds-proto.js";
import { SnapshotCache, silentLogger, startXdsServer } from "../../control-plane/xds/index.js";
import type { Snapshot } from "../../control-plane/xds/types.js";
import { HCM } from "./xds-fixtures.js";

const ECHO = {
  Echo: {
    path: "/test.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
    requestDeserialize: (b: Buffer) => JSON.parse(b.toString()),
    responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
    responseDeserialize: (b: Buffer) => JSON.parse(b.toString()),
  },
} satisfies grpc.ServiceDefinition;

const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

function echoSnapshot(port: number): Snapshot {
  const one = <T>(name: string, m: T) => new Map([[name, m as Record<string, unknown>]]);
  return {
    version: "1",
    resources: new Map([
      [
        TypeUrl.Listener,
        one("echo.test:80", {
          name: "echo.test:80",
          api_listener: {
            api_listener: {
              "@type": HCM,
              rds: { config_source: { ads: {} }, route_config_name: "echo-routes" },
              http_filters: [{ name: "router", typed_config: { "@type": ROUTER } }],
            },
          },
        }),
      ],
      [
        TypeUrl.RouteConfiguration,
        one("echo-routes", {
          name: "echo-routes",
          virtual_hosts: [
            {
              name: "echo",
              domains: ["*"],
              routes: [{ match: { prefix: "" }, route: { cluster: "echo" } }],
            },
          ],
        }),
      ],
      [
        TypeUrl.Cluster,
        one("echo", {
          name: "echo",
          type: "EDS",
          eds_cluster_config: { eds_config: { ads: {} }, service_name: "echo" },
        }),
      ],
      [
        TypeUrl.ClusterLoadAssignment,
        one("echo", {
          cluster_name: "echo",
          endpoints: [
            {
              locality: { region: "lab", zone: "a" },
              load_balancing_weight: { value: 1 },
              lb_endpoints: [
                {
                  endpoint: {
                    address: { socket_address: { address: "127.0.0.1", port_value: port } },
                  },
                },
              ],
            },
          ],
        }),
      ],
    ]),
  };
}

it("serves a proxyless @grpc/grpc-js-xds client end to end", async (t) => {
  const backend = new grpc.Server();
  backend.addService(ECHO, {
    Echo: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { echoed: call.request }),
  });
  const backendPort = await new Promise<number>((resolve, reject) =>
    backend.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  t.after(() => backend.forceShutdown());

  const cache = new SnapshotCache();
  const acked: string[] = [];
  const server = await startXdsServer({
    cache,
    log: silentLogger,
    plaintext: { host: "127.0.0.1", port: 0 },
    callbacks: {
      onStreamRequest: (_id, node) => {
        const id = node.id as string;
        if (!cache.getSnapshot(id)) cache.setSnapshot(id, echoSnapshot(backendPort));
      },
      onAck: (_id, _node, typeUrl) => void acked.push(typeUrl),
    },
  });
  t.after(() => server.close());

  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [
      {
        server_uri: `127.0.0.1:${server.plaintextPort}`,
        channel_creds: [{ type: "insecure" }],
        server_features: ["xds_v3"],
      },
    ],
    node: { id: "proxyless-1", locality: { region: "lab", zone: "a" } },
  });
  const xds = await import("@grpc/grpc-js-xds");
  xds.register();

  const Echo = grpc.makeGenericClientConstructor(ECHO, "Echo");
  const client = new Echo("xds:///echo.test:80", grpc.credentials.createInsecure());
  t.after(() => client.close());
  const reply = await new Promise((resolve, reject) =>
    (client as unknown as Record<string, (...a: unknown[]) => void>).Echo?.(
      { hi: 1 },
      { deadline: Date.now() + 5_000 },
      (err: unknown, r: unknown) => (err ? reject(err) : resolve(r)),
    ),
  );
  assert.deepEqual(reply, { echoed: { hi: 1 } });
  assert.deepEqual(acked.slice(0, 4), [
    TypeUrl.Listener,
    TypeUrl.RouteConfiguration,
    TypeUrl.Cluster,
    TypeUrl.ClusterLoadAssignment,
  ]);
  assert.equal(server.connections()[0]?.nodeId, "proxyless-1");
});

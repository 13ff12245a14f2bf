// parseNode: DiscoveryRequest.node → ProxyNode, from Struct-encoded and plain metadata,
// with the Istio-style id as a fallback and proxyless gRPC detection.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { messageType, TO_OBJECT } from "../../api/xds-proto.js";
import { NodeError, parseIstioNodeId, parseNode, type RawNode } from "../../control-plane/node.js";

/** Plain JSON → google.protobuf.Struct in protobufjs' decoded form, in either field spelling. */
function struct(obj: Record<string, unknown>, snake = false): unknown {
  const key = (camel: string) =>
    snake ? camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : camel;
  const value = (v: unknown): unknown => {
    if (typeof v === "string") return { [key("stringValue")]: v };
    if (typeof v === "number") return { [key("numberValue")]: v };
    if (typeof v === "boolean") return { [key("boolValue")]: v };
    if (Array.isArray(v)) return { [key("listValue")]: { values: v.map(value) } };
    return { [key("structValue")]: struct(v as Record<string, unknown>, snake) };
  };
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, value(v)])) };
}

const META = {
  NAMESPACE: "shop",
  NAME: "backend-1",
  SERVICE_ACCOUNT: "backend",
  LABELS: { app: "backend", version: "v1" },
  INSTANCE_IPS: "10.244.1.11, fd00::11",
};
const FROM_META = {
  id: "x",
  kind: "sidecar",
  namespace: "shop",
  podName: "backend-1",
  serviceAccount: "backend",
  labels: { app: "backend", version: "v1" },
  ips: ["10.244.1.11", "fd00::11"],
};

describe("parseNode", () => {
  const cases: [string, RawNode, Record<string, unknown>][] = [
    ["plain JSON metadata", { id: "x", metadata: META }, FROM_META],
    [
      "Struct metadata (camelCase, as protobufjs decodes it)",
      { id: "x", metadata: struct(META) },
      FROM_META,
    ],
    ["Struct metadata (snake_case)", { id: "x", metadata: struct(META, true) }, FROM_META],
    [
      "an Istio-style id when metadata is absent",
      { id: "sidecar~10.244.2.20~db-0.data~data.svc.cluster.local" },
      {
        id: "sidecar~10.244.2.20~db-0.data~data.svc.cluster.local",
        kind: "sidecar",
        namespace: "data",
        podName: "db-0",
        labels: {},
        ips: ["10.244.2.20"],
      },
    ],
    [
      "metadata wins over the id",
      { id: "sidecar~10.0.0.1~a.b~b.svc.cluster.local", metadata: { NAMESPACE: "c", NAME: "d" } },
      {
        id: "sidecar~10.0.0.1~a.b~b.svc.cluster.local",
        kind: "sidecar",
        namespace: "c",
        podName: "d",
        labels: {},
        ips: ["10.0.0.1"],
      },
    ],
    [
      "a pod name with dots in an Istio-style id",
      { id: "sidecar~10.0.0.1~web.v2.shop~shop.svc.cluster.local" },
      { namespace: "shop", podName: "web.v2" },
    ],
    [
      "proxyless by user agent",
      { id: "g", user_agent_name: "gRPC Node Pure JS", metadata: { NAMESPACE: "shop" } },
      {
        id: "g",
        kind: "proxyless",
        namespace: "shop",
        labels: {},
        ips: [],
        userAgent: "gRPC Node Pure JS",
      },
    ],
    [
      "proxyless by GENERATOR",
      { id: "g", metadata: struct({ GENERATOR: "grpc" }) },
      { kind: "proxyless" },
    ],
    [
      "a sidecar's user agent",
      { id: "s", user_agent_name: "trellis-sidecar" },
      { kind: "sidecar", userAgent: "trellis-sidecar" },
    ],
    [
      "locality, empty fields left out",
      { id: "l", locality: { region: "", zone: "zone-a", sub_zone: "" } },
      { locality: { zone: "zone-a" } },
    ],
    [
      "LABELS as a JSON string; non-string labels ignored",
      { id: "j", metadata: { LABELS: '{"app":"web","n":1}' } },
      { labels: { app: "web" } },
    ],
    [
      "an id of another form: no fallback",
      { id: "proxy-7" },
      { id: "proxy-7", kind: "sidecar", labels: {}, ips: [] },
    ],
  ];
  for (const [name, raw, want] of cases) {
    it(name, () => {
      const node = parseNode(raw);
      if (Object.keys(want).length === Object.keys(node).length && "id" in want)
        assert.deepEqual(node, want);
      else
        for (const [k, v] of Object.entries(want))
          assert.deepEqual(node[k as keyof typeof node], v, k);
    });
  }

  it("accepts metadata exactly as the ADS codec decodes a real node", () => {
    const Node = messageType("envoy.config.core.v3.Node");
    const bytes = Node.encode(
      Node.fromObject({
        id: "n",
        metadata: struct({ NAMESPACE: "shop", LABELS: { app: "a" } }),
        user_agent_name: "envoy",
      }),
    ).finish();
    const decoded = Node.toObject(Node.decode(bytes), { ...TO_OBJECT, json: false }) as RawNode;
    const node = parseNode(decoded);
    assert.equal(node.namespace, "shop");
    assert.deepEqual(node.labels, { app: "a" });
  });

  it("refuses a node without an id, with a stable code", () => {
    assert.throws(
      () => parseNode({ id: "" }),
      (err: unknown) => err instanceof NodeError && err.code === "NODE_INVALID",
    );
  });

  it("parseIstioNodeId leaves other forms alone", () => {
    assert.equal(parseIstioNodeId("a~b"), undefined);
    assert.deepEqual(parseIstioNodeId("router~~gw.ns~ns.svc.cluster.local"), {
      ip: undefined,
      podName: "gw",
      namespace: "ns",
    });
  });
});

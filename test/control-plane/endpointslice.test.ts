import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type EndpointSlice,
  MANAGED_BY_LABEL,
  MemoryStore,
  type Pod,
  SERVICE_NAME_LABEL,
  type Service,
} from "../../api/index.js";
import {
  CONTROLLER_NAME,
  computeEndpointSlices,
  runEndpointSliceController,
} from "../../control-plane/controllers/endpointslice.js";

function service(spec: Partial<Service["spec"]> = {}): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "default", uid: "svc-uid" },
    spec: {
      selector: { app: "web" },
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
      ...spec,
    },
  };
}

interface PodOpts {
  ip?: string;
  ready?: boolean;
  httpPort?: number;
  labels?: Record<string, string>;
  namespace?: string;
  deleting?: boolean;
  phase?: "Running" | "Succeeded";
}

function pod(name: string, o: PodOpts = {}): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: o.namespace ?? "default",
      uid: `uid-${name}`,
      labels: o.labels ?? { app: "web" },
      ...(o.deleting ? { deletionTimestamp: "2024-01-01T00:00:00Z" } : {}),
    },
    spec: {
      nodeName: "node-1",
      containers: [
        {
          name: "app",
          image: "img",
          ports: o.httpPort ? [{ name: "http", containerPort: o.httpPort, protocol: "TCP" }] : [],
        },
      ],
    },
    status: {
      phase: o.phase ?? "Running",
      ...(o.ip === undefined ? {} : { podIP: o.ip }),
      conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }],
    },
  };
}

const addresses = (s: EndpointSlice) => s.endpoints.map((e) => e.addresses[0]);

describe("computeEndpointSlices", () => {
  it("picks ready pods of the Service's namespace with an IP, and describes them like Kubernetes", () => {
    const slices = computeEndpointSlices(service(), [
      pod("b", { ip: "10.0.0.12", httpPort: 8080 }),
      pod("a", { ip: "10.0.0.9", httpPort: 8080 }),
      pod("no-ip", { httpPort: 8080 }),
      pod("other-app", { ip: "10.0.0.20", httpPort: 8080, labels: { app: "api" } }),
      pod("other-ns", { ip: "10.0.0.21", httpPort: 8080, namespace: "prod" }),
      pod("done", { ip: "10.0.0.22", httpPort: 8080, phase: "Succeeded" }),
    ]);
    assert.equal(slices.length, 1);
    const [slice] = slices as [EndpointSlice];
    assert.equal(slice.addressType, "IPv4");
    assert.match(slice.metadata.name, /^web-[0-9a-f]{10}$/);
    assert.deepEqual(slice.metadata.labels, {
      [SERVICE_NAME_LABEL]: "web",
      [MANAGED_BY_LABEL]: CONTROLLER_NAME,
    });
    assert.deepEqual(slice.metadata.ownerReferences, [
      { apiVersion: "v1", kind: "Service", name: "web", uid: "svc-uid", controller: true },
    ]);
    assert.deepEqual(slice.ports, [{ name: "http", protocol: "TCP", port: 8080 }]);
    assert.deepEqual(addresses(slice), ["10.0.0.9", "10.0.0.12"], "sorted by address, numerically");
    assert.deepEqual(slice.endpoints[0], {
      addresses: ["10.0.0.9"],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: "node-1",
      targetRef: { kind: "Pod", namespace: "default", name: "a", uid: "uid-a" },
    });
  });

  const conditions: [
    string,
    PodOpts,
    { ready: boolean; serving: boolean; terminating: boolean },
  ][] = [
    ["ready", { ready: true }, { ready: true, serving: true, terminating: false }],
    ["not ready", { ready: false }, { ready: false, serving: false, terminating: false }],
    [
      "terminating, still Ready",
      { ready: true, deleting: true },
      { ready: false, serving: true, terminating: true },
    ],
    [
      "terminating, not Ready",
      { ready: false, deleting: true },
      { ready: false, serving: false, terminating: true },
    ],
  ];
  for (const [name, opts, want] of conditions) {
    it(`conditions of a ${name} pod`, () => {
      const [slice] = computeEndpointSlices(service(), [
        pod("p", { ip: "10.0.0.1", httpPort: 80, ...opts }),
      ]);
      assert.deepEqual(slice?.endpoints[0]?.conditions, want);
    });
  }

  it("puts pods whose named port resolves differently into different slices, and leaves out unresolved ports", () => {
    const svc = service({
      ports: [
        { name: "http", port: 80, targetPort: "http", protocol: "TCP", appProtocol: "http" },
        { name: "admin", port: 9000, targetPort: 9000, protocol: "TCP" },
      ],
    });
    const slices = computeEndpointSlices(svc, [
      pod("old", { ip: "10.0.0.1", httpPort: 8080 }),
      pod("new", { ip: "10.0.0.2", httpPort: 9090 }),
      pod("new2", { ip: "10.0.0.3", httpPort: 9090 }),
      pod("unnamed", { ip: "10.0.0.4" }),
    ]);
    const byPorts = new Map(
      slices.map((s) => [JSON.stringify(s.ports?.map((p) => p.port)), addresses(s)]),
    );
    assert.deepEqual(Object.fromEntries(byPorts), {
      "[8080,9000]": ["10.0.0.1"],
      "[9090,9000]": ["10.0.0.2", "10.0.0.3"],
      "[9000]": ["10.0.0.4"],
    });
    const http = slices.find((s) => s.ports?.[0]?.port === 8080);
    assert.deepEqual(http?.ports?.[0], {
      name: "http",
      protocol: "TCP",
      port: 8080,
      appProtocol: "http",
    });
    assert.equal(new Set(slices.map((s) => s.metadata.name)).size, 3, "distinct names");
  });

  it("splits more than 100 endpoints into slices of at most 100, deterministically", () => {
    const pods = Array.from({ length: 250 }, (_, i) =>
      pod(`p${i}`, { ip: `10.1.${Math.floor(i / 200)}.${i % 200}`, httpPort: 8080 }),
    );
    const slices = computeEndpointSlices(service(), pods);
    assert.deepEqual(
      slices.map((s) => s.endpoints.length),
      [100, 100, 50],
    );
    assert.equal(new Set(slices.flatMap(addresses)).size, 250);
    const again = computeEndpointSlices(service(), [...pods].reverse());
    assert.deepEqual(again, slices, "the same slices whatever the pod order");
  });

  it("gives IPv6 pods their own slices, and a dual-stack pod one endpoint per family", () => {
    const dual = pod("dual", { ip: "10.0.0.1", httpPort: 8080 });
    dual.status = { ...dual.status, podIPs: [{ ip: "10.0.0.1" }, { ip: "fd00::1" }] };
    const slices = computeEndpointSlices(service(), [
      dual,
      pod("v6", { ip: "fd00::2", httpPort: 8080 }),
    ]);
    assert.deepEqual(
      slices.map((s) => [s.addressType, addresses(s)]),
      [
        ["IPv4", ["10.0.0.1"]],
        ["IPv6", ["fd00::1", "fd00::2"]],
      ],
    );
  });

  it("gives headless Services slices, and selector-less or ExternalName Services none", () => {
    const pods = [pod("a", { ip: "10.0.0.1", httpPort: 8080 })];
    assert.equal(computeEndpointSlices(service({ clusterIP: "None" }), pods).length, 1);
    assert.deepEqual(computeEndpointSlices(service({ selector: undefined }), pods), []);
    assert.deepEqual(computeEndpointSlices(service({ selector: {} }), pods), []);
    assert.deepEqual(computeEndpointSlices(service({ type: "ExternalName" }), pods), []);
  });
});

async function until(check: () => Promise<boolean>, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("runEndpointSliceController", () => {
  it("keeps the store's slices equal to the computed ones, leaving user-owned slices alone", async () => {
    const store = new MemoryStore();
    const controller = new AbortController();
    const errors: Error[] = [];
    const userSlice: EndpointSlice = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: "external-1",
        namespace: "default",
        labels: { [SERVICE_NAME_LABEL]: "external" },
      },
      addressType: "IPv4",
      endpoints: [{ addresses: ["192.0.2.1"] }],
    };
    await store.create(userSlice);
    await store.create({
      ...service({ selector: undefined }),
      metadata: { name: "external", namespace: "default" },
    });
    const { uid: _u, ...meta } = service().metadata;
    await store.create({ ...service(), metadata: meta });
    await store.create(pod("web-1", { ip: "10.0.0.1", httpPort: 8080, ready: false }));
    const running = runEndpointSliceController(store, {
      signal: controller.signal,
      onError: (e) => errors.push(e),
      debounceMs: 5,
    });

    const managed = async () =>
      (await store.list("EndpointSlice")).items.filter(
        (s) => s.metadata.labels?.[MANAGED_BY_LABEL] === CONTROLLER_NAME,
      );
    await until(async () => (await managed()).length === 1, "the first slice");
    const [first] = await managed();
    assert.equal(first?.endpoints[0]?.conditions?.ready, false);
    assert.equal(
      first?.metadata.ownerReferences?.[0]?.uid,
      (await store.get("Service", "web"))?.metadata.uid,
    );

    await store.apply(pod("web-1", { ip: "10.0.0.1", httpPort: 8080, ready: true }));
    await until(
      async () => (await managed())[0]?.endpoints[0]?.conditions?.ready === true,
      "the pod to become ready",
    );
    const version = (await managed())[0]?.metadata.resourceVersion;

    await store.create({ ...pod("other", { ip: "10.0.0.9", labels: { app: "api" } }) });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(
      (await managed())[0]?.metadata.resourceVersion,
      version,
      "an unrelated pod changes nothing",
    );

    await store.delete("Service", "web");
    await until(
      async () => (await managed()).length === 0,
      "the slices to be deleted with their Service",
    );
    assert.deepEqual(
      (await store.get("EndpointSlice", "external-1"))?.endpoints,
      userSlice.endpoints,
    );

    controller.abort();
    await running;
    assert.deepEqual(errors, []);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type AuthorizationPolicy,
  type Deployment,
  type GRPCRoute,
  type HTTPRoute,
  ManifestError,
  type Namespace,
  type NetworkPolicy,
  type PeerAuthentication,
  type Pod,
  parseGatewayDuration,
  parseManifests,
  parseManifestsOrThrow,
  type Service,
  validateResource,
} from "../../api/index.js";

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
`;

describe("parseManifests", () => {
  it("reads every document of a multi-document file, ignoring empty ones", () => {
    const text = `---\n${SERVICE}---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: prod, namespace: x}\n`;
    const r = parseManifests(text, "web.yaml");
    assert.deepEqual(r.errors, []);
    assert.deepEqual(
      r.resources.map((x) => [x.kind, x.metadata.namespace, x.metadata.name]),
      [
        ["Service", "default", "web"],
        ["Namespace", undefined, "prod"],
      ],
    );
  });

  it("accepts kind: List and names its items", () => {
    const text = `apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: B}}\n`;
    const r = parseManifests(text, "list.yaml");
    assert.equal(r.resources.length, 1);
    assert.deepEqual(
      r.errors.map((e) => [e.document, e.path]),
      [["list.yaml#1 items[1] (Namespace B)", "metadata.name"]],
    );
  });

  it("skips ServiceAccount, ConfigMap and Secret, and refuses unknown kinds naming the supported ones", () => {
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web}\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\n`;
    const r = parseManifests(text, "m.yaml");
    assert.deepEqual(r.skipped, [
      { document: "m.yaml#1 (ConfigMap default/cfg)", kind: "ConfigMap" },
      { document: "m.yaml#2 (ServiceAccount default/web)", kind: "ServiceAccount" },
    ]);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]?.path, "kind");
    assert.match(
      r.errors[0]?.message ?? "",
      /unsupported kind "StatefulSet".*v1 Service.*gateway\.networking\.k8s\.io\/v1 HTTPRoute/,
    );
  });

  it("refuses a known kind in the wrong apiVersion", () => {
    const r = parseManifests("apiVersion: v1\nkind: Deployment\nmetadata: {name: d}\n", "d.yaml");
    assert.deepEqual(
      r.errors.map((e) => [e.path, e.message]),
      [["apiVersion", 'Deployment needs apiVersion apps/v1, got "v1"']],
    );
  });

  it("keeps good documents when one in the same file is bad, and collects every issue of the bad one", () => {
    const bad = `apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec:\n  clusterIP: 10.0.0.300\n  ports:\n  - {port: 70000}\n  - {port: 81, protocol: tcp}\n`;
    const r = parseManifests(`${SERVICE}---\n${bad}`, "web.yaml");
    assert.deepEqual(
      r.resources.map((x) => x.metadata.name),
      ["web"],
    );
    assert.deepEqual(
      r.errors.map((e) => [e.document, e.path]),
      [
        ["web.yaml#2 (Service default/api)", "spec.clusterIP"],
        ["web.yaml#2 (Service default/api)", "spec.ports[0].port"],
        ["web.yaml#2 (Service default/api)", "spec.ports[0].name"],
        ["web.yaml#2 (Service default/api)", "spec.ports[1].protocol"],
        ["web.yaml#2 (Service default/api)", "spec.ports[1].name"],
      ],
    );
  });

  it("reports YAML syntax errors and non-mapping documents per document", () => {
    const r = parseManifests(`a: [1, 2\n---\n- just a list\n---\n${SERVICE}`, "x.yaml");
    assert.deepEqual(
      r.resources.map((x) => x.metadata.name),
      ["web"],
    );
    assert.equal(r.errors[0]?.document, "x.yaml#1");
    assert.match(r.errors[0]?.message ?? "", /^not valid YAML/);
    assert.ok(
      r.errors.some((e) => e.document === "x.yaml#2" && /must be a mapping/.test(e.message)),
    );
  });

  it("refuses the same object twice", () => {
    const r = parseManifests(`${SERVICE}---\n${SERVICE}`, "dup.yaml");
    assert.equal(r.resources.length, 1);
    assert.deepEqual(
      r.errors.map((e) => [e.document, e.path]),
      [["dup.yaml#2 (Service default/web)", "metadata.name"]],
    );
    assert.match(r.errors[0]?.message ?? "", /duplicate of dup\.yaml#1/);
  });

  it("keeps fields Trellis does not type", () => {
    const r = parseManifests(
      `${SERVICE}  externalTrafficPolicy: Local\n  ipFamilies: [IPv4]\n`,
      "w.yaml",
    );
    const spec = (r.resources[0] as Service).spec as unknown as Record<string, unknown>;
    assert.equal(spec.externalTrafficPolicy, "Local");
    assert.deepEqual(spec.ipFamilies, ["IPv4"]);
  });
});

describe("defaults", () => {
  const one = <T>(text: string): T => {
    const [r] = parseManifestsOrThrow(text, "t.yaml");
    return r as T;
  };

  it("Service: namespace, type, protocol, targetPort", () => {
    const svc = one<Service>(SERVICE);
    assert.equal(svc.metadata.namespace, "default");
    assert.equal(svc.spec.type, "ClusterIP");
    assert.deepEqual(svc.spec.ports, [{ port: 80, protocol: "TCP", targetPort: 80 }]);
  });

  it("Pod: containerPort protocol", () => {
    const pod = one<Pod>(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: prod}\nspec:\n  containers: [{name: app, image: img, ports: [{containerPort: 8080, name: http}]}]\n",
    );
    assert.equal(pod.metadata.namespace, "prod");
    assert.deepEqual(pod.spec.containers[0]?.ports, [
      { containerPort: 8080, name: "http", protocol: "TCP" },
    ]);
  });

  it("HTTPRoute: matches, path type, header type, backendRef and parentRef fields", () => {
    const route = one<HTTPRoute>(`apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{name: web, kind: Service}, {name: gw}]
  rules:
  - backendRefs: [{name: web-v1, port: 80}]
  - matches: [{path: {value: /api}, headers: [{name: x-canary, value: "1"}]}, {method: GET}]
    backendRefs: [{name: web-v2, port: 80, weight: 0}]
`);
    assert.equal(route.apiVersion, "gateway.networking.k8s.io/v1");
    assert.deepEqual(route.spec.parentRefs, [
      { name: "web", kind: "Service", group: "", namespace: "shop" },
      { name: "gw", kind: "Gateway", group: "gateway.networking.k8s.io", namespace: "shop" },
    ]);
    const [first, second] = route.spec.rules ?? [];
    assert.deepEqual(first?.matches, [{ path: { type: "PathPrefix", value: "/" } }]);
    assert.deepEqual(first?.backendRefs, [
      { name: "web-v1", port: 80, kind: "Service", group: "", weight: 1, namespace: "shop" },
    ]);
    assert.deepEqual(second?.matches, [
      {
        path: { type: "PathPrefix", value: "/api" },
        headers: [{ name: "x-canary", value: "1", type: "Exact" }],
      },
      { method: "GET", path: { type: "PathPrefix", value: "/" } },
    ]);
    assert.equal(second?.backendRefs?.[0]?.weight, 0);
  });

  it("GRPCRoute: method match type, backendRef fields", () => {
    const route = one<GRPCRoute>(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g}
spec:
  parentRefs: [{name: greeter, kind: Service}]
  rules: [{matches: [{method: {service: helloworld.Greeter}}], backendRefs: [{name: greeter, port: 50051}]}]
`);
    assert.deepEqual(route.spec.rules?.[0]?.matches, [
      { method: { service: "helloworld.Greeter", type: "Exact" } },
    ]);
    assert.equal(route.spec.rules?.[0]?.backendRefs?.[0]?.namespace, "default");
  });

  it("security: AuthorizationPolicy action ALLOW, PeerAuthentication mode UNSET", () => {
    const authz = one<AuthorizationPolicy>(
      "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec: {}\n",
    );
    assert.equal(authz.spec.action, "ALLOW");
    const pa = one<PeerAuthentication>(
      "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec:\n  selector: {matchLabels: {app: web}}\n  portLevelMtls: {'8080': {}}\n",
    );
    assert.equal(pa.apiVersion, "security.istio.io/v1beta1");
    assert.deepEqual(pa.spec.mtls, { mode: "UNSET" });
    assert.deepEqual(pa.spec.portLevelMtls, { "8080": { mode: "UNSET" } });
  });

  it("Deployment replicas, NetworkPolicy policyTypes and port protocol", () => {
    const d = one<Deployment>(
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {app: d}}\n  template:\n    metadata: {labels: {app: d}}\n    spec: {containers: [{name: c, image: i}]}\n",
    );
    assert.equal(d.spec.replicas, 1);
    const np = one<NetworkPolicy>(
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec:\n  podSelector: {}\n  egress: [{ports: [{port: 53}]}]\n",
    );
    assert.deepEqual(np.spec.policyTypes, ["Ingress", "Egress"]);
    assert.deepEqual(np.spec.egress?.[0]?.ports, [{ port: 53, protocol: "TCP" }]);
  });

  it("cluster-scoped kinds lose a namespace", () => {
    const ns = one<Namespace>(
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, namespace: default}\n",
    );
    assert.equal(ns.metadata.namespace, undefined);
  });
});

describe("parseManifestsOrThrow and validateResource", () => {
  it("throws MANIFEST_INVALID with one line per issue", () => {
    const text =
      "apiVersion: v1\nkind: Service\nmetadata: {name: Web}\nspec: {ports: [{port: 0}]}\n";
    assert.throws(
      () => parseManifestsOrThrow(text, "web.yaml"),
      (err) => {
        assert.ok(err instanceof ManifestError);
        assert.equal(err.code, "MANIFEST_INVALID");
        assert.equal(err.issues.length, 2);
        assert.deepEqual(
          err.message.split("\n").map((l) => l.split(": ").slice(0, 2).join(": ")),
          [
            "web.yaml#1 (Service default/Web): metadata.name",
            "web.yaml#1 (Service default/Web): spec.ports[0].port",
          ],
        );
        return true;
      },
    );
  });

  it("validateResource checks an object without changing it", () => {
    const obj = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web" },
      spec: { ports: [{ port: 80, targetPort: "--x" }] },
    };
    const issues = validateResource(obj);
    assert.deepEqual(
      issues.map((i) => [i.document, i.path]),
      [["Service default/web", "spec.ports[0].targetPort"]],
    );
    assert.deepEqual(obj.metadata, { name: "web" });
  });
});

describe("parseGatewayDuration", () => {
  const good: [string, number][] = [
    ["0s", 0],
    ["500ms", 500],
    ["10s", 10_000],
    ["1m30s", 90_000],
    ["1h", 3_600_000],
    ["1h2m3s4ms", 3_723_004],
    ["99999ms", 99_999],
  ];
  for (const [text, ms] of good)
    it(`${text} = ${ms} ms`, () => assert.equal(parseGatewayDuration(text), ms));
  for (const text of ["", "10", "1.5s", "100000s", "1d", "-1s", "1s1s1s1s1s", " 1s"]) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseGatewayDuration(text), { code: "INVALID_DURATION" });
    });
  }
});

// Every validation rule, as a table: a valid object per kind, the change that breaks it,
// and the exact field path (and gist of the message) a user must see.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateResource } from "../../api/index.js";

// biome-ignore lint/suspicious/noExplicitAny: the table edits plain objects freely
type Obj = any;

const bases: Record<string, () => Obj> = {
  pod: () => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web-1", labels: { app: "web" }, annotations: { "example.com/note": "x" } },
    spec: {
      containers: [{ name: "app", image: "img", ports: [{ containerPort: 8080, name: "http" }] }],
    },
    status: {
      podIP: "10.0.0.5",
      podIPs: [{ ip: "10.0.0.5" }],
      conditions: [{ type: "Ready", status: "True" }],
    },
  }),
  service: () => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web" },
    spec: {
      selector: { app: "web" },
      clusterIP: "10.96.0.10",
      ports: [{ name: "http", port: 80, targetPort: "http" }],
    },
  }),
  slice: () => ({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "web-abc" },
    addressType: "IPv4",
    endpoints: [{ addresses: ["10.0.0.1"], conditions: { ready: true } }],
    ports: [{ name: "http", port: 8080 }],
  }),
  deployment: () => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web" },
    spec: {
      replicas: 2,
      selector: {
        matchLabels: { app: "web" },
        matchExpressions: [{ key: "tier", operator: "In", values: ["fe"] }],
      },
      template: {
        metadata: { labels: { app: "web", tier: "fe" } },
        spec: { containers: [{ name: "app", image: "img" }] },
      },
    },
  }),
  netpol: () => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "np" },
    spec: {
      podSelector: { matchLabels: { app: "web" } },
      ingress: [
        {
          from: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["10.1.0.0/16"] } }, { podSelector: {} }],
          ports: [{ port: 80, endPort: 90 }],
        },
      ],
    },
  }),
  http: () => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "web" },
    spec: {
      parentRefs: [{ name: "web", kind: "Service", port: 80 }],
      hostnames: ["web.example.com"],
      rules: [
        {
          matches: [
            {
              path: { type: "PathPrefix", value: "/api" },
              headers: [{ name: "x-a", value: "1" }],
              method: "GET",
            },
          ],
          backendRefs: [{ name: "web-v1", port: 80, weight: 10 }],
          timeouts: { request: "10s", backendRequest: "2s" },
          retry: { codes: [503], attempts: 2, backoff: "100ms" },
        },
      ],
    },
  }),
  grpc: () => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GRPCRoute",
    metadata: { name: "greeter" },
    spec: {
      parentRefs: [{ name: "greeter", kind: "Service" }],
      rules: [
        {
          matches: [{ method: { service: "helloworld.Greeter", method: "SayHello" } }],
          backendRefs: [{ name: "greeter", port: 50051 }],
          retry: { codes: ["UNAVAILABLE", 4], attempts: 1 },
        },
      ],
    },
  }),
  peerauth: () => ({
    apiVersion: "security.istio.io/v1",
    kind: "PeerAuthentication",
    metadata: { name: "pa" },
    spec: {
      selector: { matchLabels: { app: "web" } },
      mtls: { mode: "STRICT" },
      portLevelMtls: { "8080": { mode: "DISABLE" } },
    },
  }),
  authz: () => ({
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: "az" },
    spec: {
      action: "DENY",
      rules: [
        {
          from: [
            {
              source: { principals: ["cluster.local/ns/default/sa/web"], ipBlocks: ["10.0.0.0/8"] },
            },
          ],
          to: [
            {
              operation: {
                methods: ["GET"],
                paths: ["/api/*", "*.html", "/exact", "*"],
                ports: ["8080"],
              },
            },
          ],
          when: [{ key: "request.headers[x]", values: ["1"] }],
        },
      ],
    },
  }),
};

// base | field = JSON value (undefined deletes; several joined by " ; ") | reported path | message pattern
const TABLE = `
service    | metadata.name = "web.v1"                                  | metadata.name                                   | DNS-1123 label
pod        | metadata.name = "Web_1"                                   | metadata.name                                   | DNS-1123 subdomain
pod        | metadata.name = undefined                                 | metadata.name                                   | is required
pod        | metadata.namespace = "a.b"                                | metadata.namespace                              | DNS-1123 label
pod        | metadata.labels = {"-x": "y"}                             | metadata.labels.-x                              | invalid key
pod        | metadata.labels = {"v": 1}                                | metadata.labels.v                               | must be a string.*quote it
pod        | metadata.labels = {"v": "a b"}                            | metadata.labels.v                               | letters, digits
pod        | metadata.annotations = {"a/b/c": "x"}                     | metadata.annotations.a/b/c                      | invalid key
pod        | spec.containers = []                                      | spec.containers                                 | at least 1 item
pod        | spec.containers[0].image = undefined                      | spec.containers[0].image                        | is required
pod        | spec.containers[0].name = undefined                       | spec.containers[0].name                         | is required
pod        | spec.containers[0].ports[0].containerPort = 0             | spec.containers[0].ports[0].containerPort       | 1 to 65535
pod        | spec.containers[0].ports[0].protocol = "HTTP"             | spec.containers[0].ports[0].protocol            | TCP, UDP, SCTP
pod        | spec.containers[1] = {"name": "side", "image": "i", "ports": [{"containerPort": 9090, "name": "http"}]} | spec.containers[1].ports[0].name | duplicate port name "http"
pod        | spec.containers[0].ports[0].name = "http-port-name-long"  | spec.containers[0].ports[0].name                | IANA_SVC_NAME
pod        | status.podIP = "10.0.0" ; status.podIPs = undefined       | status.podIP                                    | must be an IP address
pod        | status.podIPs = [{"ip": "10.0.0.6"}]                      | status.podIPs[0].ip                             | must equal status.podIP
service    | spec.ports[0].port = 65536                                | spec.ports[0].port                              | 1 to 65535, got 65536
service    | spec.ports[0].targetPort = "a--b"                         | spec.ports[0].targetPort                        | no "--"
service    | spec.ports[0].targetPort = "8080"                         | spec.ports[0].targetPort                        | quoted number
service    | spec.ports[0].targetPort = "http-"                        | spec.ports[0].targetPort                        | IANA_SVC_NAME
service    | spec.ports[0].targetPort = "a-very-long-port-name"        | spec.ports[0].targetPort                        | at most 15
service    | spec.ports[0].targetPort = 0                              | spec.ports[0].targetPort                        | 1 to 65535
service    | spec.ports[0].protocol = "tcp"                            | spec.ports[0].protocol                          | one of TCP, UDP, SCTP
service    | spec.clusterIP = "none"                                   | spec.clusterIP                                  | "None" for a headless
service    | spec.ports[1] = {"port": 81}                              | spec.ports[1].name                              | required when a Service has more than one port
service    | spec.ports[1] = {"name": "http", "port": 81}              | spec.ports[1].name                              | duplicate port name "http"
service    | spec.ports = []                                           | spec.ports                                      | only headless and ExternalName
service    | spec.selector = {"app": "a b"}                            | spec.selector.app                               | letters, digits
service    | spec.type = "Headless"                                    | spec.type                                       | ClusterIP, NodePort
slice      | addressType = "ipv4"                                      | addressType                                     | IPv4, IPv6, FQDN
slice      | endpoints[0].addresses = ["fd00::1"]                      | endpoints[0].addresses[0]                       | must be an IPv4 address
slice      | addressType = "IPv6"                                      | endpoints[0].addresses[0]                       | must be an IPv6 address
slice      | addressType = "FQDN" ; endpoints[0].addresses = ["Bad_Host"] | endpoints[0].addresses[0]                    | DNS-1123 subdomain
slice      | endpoints[0].addresses = []                               | endpoints[0].addresses                          | at least 1 item
slice      | ports[0].port = 70000                                     | ports[0].port                                   | 1 to 65535
slice      | endpoints[0].conditions.ready = "yes"                     | endpoints[0].conditions.ready                   | true or false
deployment | spec.template.metadata.labels.tier = "be"                 | spec.template.metadata.labels                   | must match spec.selector
deployment | spec.replicas = -1                                        | spec.replicas                                   | at least 0
deployment | spec.selector = {}                                        | spec.selector                                   | must not be empty
deployment | spec.selector.matchExpressions[0].operator = "in"         | spec.selector.matchExpressions[0].operator      | In, NotIn
deployment | spec.selector.matchExpressions[0].values = []             | spec.selector.matchExpressions[0].values        | at least one value
deployment | spec.template.spec.containers = []                        | spec.template.spec.containers                   | at least 1 item
netpol     | spec.ingress[0].ports[0].endPort = 79                     | spec.ingress[0].ports[0].endPort                | at least port \\(80\\)
netpol     | spec.ingress[0].ports[0].port = "http"                    | spec.ingress[0].ports[0].endPort                | named port
netpol     | spec.ingress[0].ports[0].port = 0 ; spec.ingress[0].ports[0].endPort = undefined | spec.ingress[0].ports[0].port | 1 to 65535
netpol     | spec.ingress[0].ports[0].protocol = "ICMP"                | spec.ingress[0].ports[0].protocol               | TCP, UDP, SCTP
netpol     | spec.ingress[0].from[0].ipBlock.cidr = "10.0.0.0/33"      | spec.ingress[0].from[0].ipBlock.cidr            | must be a CIDR
netpol     | spec.ingress[0].from[0].ipBlock.except = ["192.168.0.0/16"] | spec.ingress[0].from[0].ipBlock.except[0]     | strictly inside
netpol     | spec.ingress[0].from[0].ipBlock.except = ["10.0.0.0/8"]   | spec.ingress[0].from[0].ipBlock.except[0]       | strictly inside
netpol     | spec.ingress[0].from[0].podSelector = {}                  | spec.ingress[0].from[0].ipBlock                 | cannot be combined
netpol     | spec.podSelector.matchLabels = {"x/y/z": "a"}             | spec.podSelector.matchLabels.x/y/z              | invalid key
netpol     | spec.podSelector = undefined                              | spec.podSelector                                | is required
http       | spec.parentRefs[0].kind = "Pod"                           | spec.parentRefs[0].kind                         | Gateway, Service
http       | spec.parentRefs[0].group = "gateway.networking.k8s.io"    | spec.parentRefs[0].group                        | core group
http       | spec.rules[0].matches[0].path.type = "Prefix"             | spec.rules[0].matches[0].path.type              | Exact, PathPrefix, RegularExpression
http       | spec.rules[0].matches[0].path.value = "api"               | spec.rules[0].matches[0].path.value             | must start with "/"
http       | spec.rules[0].matches[0].path.value = "/a//b"             | spec.rules[0].matches[0].path.value             | must not contain
http       | spec.rules[0].matches[0].path = {"type": "RegularExpression", "value": "/a("} | spec.rules[0].matches[0].path.value | not a valid regular expression
http       | spec.rules[0].matches[0].headers[0].name = "x a"          | spec.rules[0].matches[0].headers[0].name        | not a valid header name
http       | spec.rules[0].matches[0].headers[1] = {"name": "X-A", "value": "2"} | spec.rules[0].matches[0].headers[1].name | duplicate header match
http       | spec.rules[0].matches[0].headers[0] = {"name": "x", "type": "RegularExpression", "value": "["} | spec.rules[0].matches[0].headers[0].value | regular expression
http       | spec.rules[0].matches[0].method = "get"                   | spec.rules[0].matches[0].method                 | GET, HEAD
http       | spec.rules[0].backendRefs[0].weight = 1000001             | spec.rules[0].backendRefs[0].weight             | from 0 to 1000000
http       | spec.rules[0].backendRefs[0].weight = 0.5                 | spec.rules[0].backendRefs[0].weight             | integer
http       | spec.rules[0].backendRefs[0].port = undefined             | spec.rules[0].backendRefs[0].port               | required for a Service backend
http       | spec.rules[0].timeouts.request = "10 s"                   | spec.rules[0].timeouts.request                  | Gateway API Duration
http       | spec.rules[0].timeouts.backendRequest = "11s"             | spec.rules[0].timeouts.backendRequest           | must not be longer than request
http       | spec.rules[0].retry.codes = [503, 399]                    | spec.rules[0].retry.codes[1]                    | from 400 to 599
http       | spec.rules[0].retry.attempts = -1                         | spec.rules[0].retry.attempts                    | at least 0
http       | spec.rules[0].retry.backoff = "1.5s"                      | spec.rules[0].retry.backoff                     | Gateway API Duration
http       | spec.hostnames = ["Web.Example.com"]                      | spec.hostnames[0]                               | lowercase hostname
grpc       | spec.rules[0].matches[0].method = {"type": "Exact"}       | spec.rules[0].matches[0].method                 | must set service, method or both
grpc       | spec.rules[0].matches[0].method.service = "hello/Greeter" | spec.rules[0].matches[0].method.service         | fully qualified gRPC service
grpc       | spec.rules[0].matches[0].method.method = "Say.Hello"      | spec.rules[0].matches[0].method.method          | gRPC method name
grpc       | spec.rules[0].matches[0].method = {"type": "RegularExpression", "method": "("} | spec.rules[0].matches[0].method.method | regular expression
grpc       | spec.rules[0].retry.codes = ["unavailable"]               | spec.rules[0].retry.codes[0]                    | gRPC status name
grpc       | spec.rules[0].retry.codes = [17]                          | spec.rules[0].retry.codes[0]                    | 0–16
grpc       | spec.rules[0].backendRefs[0].port = undefined             | spec.rules[0].backendRefs[0].port               | is required
peerauth   | spec.mtls.mode = "ON"                                     | spec.mtls.mode                                  | UNSET, STRICT, PERMISSIVE, DISABLE
peerauth   | spec.portLevelMtls = {"http": {"mode": "STRICT"}}         | spec.portLevelMtls.http                         | port numbers
peerauth   | spec.selector = undefined                                 | spec.portLevelMtls                              | requires spec.selector
peerauth   | spec.portLevelMtls.8080.mode = "strict"                   | spec.portLevelMtls.8080.mode                    | UNSET, STRICT
authz      | spec.action = "REJECT"                                    | spec.action                                     | ALLOW, DENY, AUDIT
authz      | spec.action = "CUSTOM"                                    | spec.action                                     | not supported
authz      | spec.rules[0].from[0].source.principals = [""]            | spec.rules[0].from[0].source.principals[0]      | must not be empty
authz      | spec.rules[0].from[0].source = {}                         | spec.rules[0].from[0].source                    | at least one of principals
authz      | spec.rules[0].to[0].operation.methods = ["get"]           | spec.rules[0].to[0].operation.methods[0]        | capitals
authz      | spec.rules[0].to[0].operation.paths = ["/a/*/b"]          | spec.rules[0].to[0].operation.paths[0]          | a prefix "/a/\\*"
authz      | spec.rules[0].to[0].operation.paths = ["api"]             | spec.rules[0].to[0].operation.paths[0]          | exact path
authz      | spec.rules[0].to[0].operation.ports = ["http"]            | spec.rules[0].to[0].operation.ports[0]          | port number
authz      | spec.rules[0].to[0].operation.ports = [8080]              | spec.rules[0].to[0].operation.ports[0]          | quote it
authz      | spec.rules[0].from[0].source.ipBlocks = ["10.0.0.0/40"]   | spec.rules[0].from[0].source.ipBlocks[0]        | IP address or a CIDR
authz      | spec.rules[0].when[0].values = undefined                  | spec.rules[0].when[0]                           | values or notValues
`;

/** Sets (or, with undefined, deletes) the field at a path like `spec.ports[1].name`. */
function setField(obj: Obj, field: string, value: unknown): void {
  const keys = field.split(".").flatMap((part) => {
    const [name = "", ...indices] = part.split("[");
    return [...(name === "" ? [] : [name]), ...indices.map((i) => Number(i.slice(0, -1)))];
  });
  const last = keys.pop() as string | number;
  const parent = keys.reduce((o, k) => o[k], obj);
  if (value === undefined) delete parent[last];
  else parent[last] = value;
}

describe("validation", () => {
  for (const [name, make] of Object.entries(bases)) {
    it(`the valid ${name} has no issues`, () => assert.deepEqual(validateResource(make()), []));
  }
  for (const row of TABLE.trim().split("\n")) {
    const [base = "", change = "", path = "", pattern = ""] = row.split(" | ").map((c) => c.trim());
    it(`${base}: ${change} → ${path}`, () => {
      const obj = bases[base]?.();
      assert.ok(obj, `no base ${base}`);
      for (const assignment of change.split(" ; ")) {
        const eq = assignment.indexOf(" = ");
        const value = assignment.slice(eq + 3).trim();
        setField(
          obj,
          assignment.slice(0, eq).trim(),
          value === "undefined" ? undefined : JSON.parse(value),
        );
      }
      const issues = validateResource(obj);
      const hit = issues.find((i) => i.path === path);
      assert.ok(hit, `no issue at ${path}; got ${JSON.stringify(issues)}`);
      assert.match(hit.message, new RegExp(pattern));
    });
  }

  it("a headless Service may have no ports", () => {
    const svc = bases.service?.();
    svc.spec.clusterIP = "None";
    svc.spec.ports = [];
    assert.deepEqual(validateResource(svc), []);
  });
});

// A small mesh for the translator's golden and table tests: namespaces shop and data;
// frontend, backend (HTTP and gRPC ports), backend-v2 (no sidecar) and db (TCP); an
// HTTPRoute splitting backend 90/10 with retry and timeouts, a GRPCRoute; mesh-wide
// PERMISSIVE and STRICT in data; an ALLOW policy by principal and path, and a DENY by
// namespace. Objects are written as parsing leaves them (defaults filled in).

import type {
  AuthorizationPolicy,
  EndpointSlice,
  GRPCRoute,
  HTTPRoute,
  Namespace,
  PeerAuthentication,
  Pod,
  Service,
  ServicePort,
} from "../../api/types.js";
import type { MeshModel, TranslateOptions } from "../../control-plane/translator/index.js";
import type { ProxyNode } from "../../control-plane/xds/types.js";

export const OPTIONS: TranslateOptions = {
  trustDomain: "cluster.local",
  clusterDomain: "cluster.local",
  outboundTrafficPolicy: "ALLOW_ANY",
  trustBundlePem: "-----BEGIN CERTIFICATE-----\nTEST-ROOT\n-----END CERTIFICATE-----\n",
};

const T0 = "2024-01-01T00:00:00Z";

export const namespace = (name: string): Namespace => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name },
});

export function service(
  ns: string,
  name: string,
  clusterIP: string,
  ports: ServicePort[],
  selector: Record<string, string> = { app: name },
): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns },
    spec: {
      type: "ClusterIP",
      clusterIP,
      clusterIPs: clusterIP === "None" ? undefined : [clusterIP],
      selector,
      ports: ports.map((p) => ({ protocol: "TCP", targetPort: p.port, ...p })),
    },
  };
}

export function pod(
  ns: string,
  name: string,
  opts: {
    labels: Record<string, string>;
    sa?: string;
    ip: string;
    node?: string;
    sidecar?: boolean;
    ports?: { name?: string; containerPort: number }[];
  },
): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: ns,
      labels: opts.labels,
      annotations: opts.sidecar === false ? {} : { "sidecar.trellis.dev/inject": "true" },
    },
    spec: {
      serviceAccountName: opts.sa,
      nodeName: opts.node,
      containers: [{ name: "app", image: "app", ports: opts.ports }],
    },
    status: { phase: "Running", podIP: opts.ip, podIPs: [{ ip: opts.ip }] },
  };
}

/** One slice for a Service: each endpoint a pod with its IP, node, zone and readiness. */
export function slice(
  svc: Service,
  ports: { name?: string; port: number }[],
  endpoints: { pod: Pod; zone?: string; ready?: boolean; serving?: boolean }[],
): EndpointSlice {
  const ns = svc.metadata.namespace ?? "default";
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${svc.metadata.name}-abcde`,
      namespace: ns,
      labels: { "kubernetes.io/service-name": svc.metadata.name },
    },
    addressType: "IPv4",
    ports: ports.map((p) => ({ protocol: "TCP", ...p })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.pod.status?.podIP ?? ""],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? true, terminating: false },
      nodeName: e.pod.spec.nodeName,
      zone: e.zone,
      targetRef: { kind: "Pod", namespace: ns, name: e.pod.metadata.name },
    })),
  };
}

export const frontend = service("shop", "frontend", "10.96.0.10", [
  { name: "http", port: 80, targetPort: 8080 },
]);
export const backend = service("shop", "backend", "10.96.0.20", [
  { name: "web", port: 80, targetPort: "http", appProtocol: "http" },
  { name: "grpc", port: 9090 },
]);
export const backendV2 = service("shop", "backend-v2", "10.96.0.21", [
  { name: "http", port: 80, targetPort: 8080 },
]);
export const db = service("data", "db", "10.96.1.10", [{ name: "tcp-postgres", port: 5432 }]);

export const frontendPod = pod("shop", "frontend-7d4f9", {
  labels: { app: "frontend" },
  sa: "frontend",
  ip: "10.244.1.10",
  node: "node-a",
  ports: [{ name: "http", containerPort: 8080 }],
});
const backendPorts = [
  { name: "http", containerPort: 8080 },
  { name: "grpc", containerPort: 9090 },
];
export const backendPod1 = pod("shop", "backend-1", {
  labels: { app: "backend", version: "v1" },
  sa: "backend",
  ip: "10.244.1.11",
  node: "node-a",
  ports: backendPorts,
});
export const backendPod2 = pod("shop", "backend-2", {
  labels: { app: "backend", version: "v1" },
  sa: "backend",
  ip: "10.244.2.11",
  node: "node-b",
  ports: backendPorts,
});
export const backendV2Pod = pod("shop", "backend-v2-1", {
  labels: { app: "backend-v2" },
  ip: "10.244.2.12",
  node: "node-b",
  sidecar: false,
  ports: [{ name: "http", containerPort: 8080 }],
});
export const dbPod = pod("data", "db-0", {
  labels: { app: "db" },
  sa: "db",
  ip: "10.244.2.20",
  node: "node-b",
  ports: [{ name: "postgres", containerPort: 5432 }],
});

export const backendRoute: HTTPRoute = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name: "backend-split", namespace: "shop", creationTimestamp: T0 },
  spec: {
    parentRefs: [{ group: "", kind: "Service", name: "backend", namespace: "shop", port: 80 }],
    rules: [
      {
        matches: [
          {
            path: { type: "PathPrefix", value: "/api" },
            headers: [{ type: "Exact", name: "X-Canary", value: "true" }],
          },
        ],
        backendRefs: [
          { group: "", kind: "Service", name: "backend", namespace: "shop", port: 80, weight: 90 },
          {
            group: "",
            kind: "Service",
            name: "backend-v2",
            namespace: "shop",
            port: 80,
            weight: 10,
          },
          {
            group: "",
            kind: "Service",
            name: "backend-v3",
            namespace: "shop",
            port: 80,
            weight: 0,
          },
        ],
        retry: { attempts: 3, codes: [503], backoff: "100ms" },
        timeouts: { request: "5s", backendRequest: "1s" },
      },
      {
        matches: [{ path: { type: "Exact", value: "/healthz" }, method: "GET" }],
        backendRefs: [
          { group: "", kind: "Service", name: "backend", namespace: "shop", port: 80, weight: 1 },
        ],
      },
      {
        matches: [{ path: { type: "RegularExpression", value: "/v[0-9]+/.*" } }],
        backendRefs: [
          { group: "", kind: "Service", name: "ghost", namespace: "shop", port: 80, weight: 1 },
        ],
      },
    ],
  },
};

export const backendGrpcRoute: GRPCRoute = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "GRPCRoute",
  metadata: { name: "backend-grpc", namespace: "shop", creationTimestamp: T0 },
  spec: {
    parentRefs: [{ group: "", kind: "Service", name: "backend", namespace: "shop", port: 9090 }],
    rules: [
      {
        matches: [{ method: { type: "Exact", service: "shop.Catalog", method: "GetItem" } }],
        backendRefs: [
          { group: "", kind: "Service", name: "backend", namespace: "shop", port: 9090, weight: 1 },
        ],
        retry: { attempts: 2, codes: ["UNAVAILABLE", 8] },
        timeouts: { request: "2s" },
      },
      {
        matches: [{ method: { type: "Exact", service: "shop.Catalog" } }],
        backendRefs: [
          { group: "", kind: "Service", name: "backend", namespace: "shop", port: 9090, weight: 1 },
        ],
      },
    ],
  },
};

export function peerAuthentication(
  ns: string,
  name: string,
  spec: PeerAuthentication["spec"],
  creationTimestamp = T0,
): PeerAuthentication {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "PeerAuthentication",
    metadata: { name, namespace: ns, creationTimestamp },
    spec,
  };
}

export function authorizationPolicy(
  ns: string,
  name: string,
  spec: AuthorizationPolicy["spec"],
): AuthorizationPolicy {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name, namespace: ns, creationTimestamp: T0 },
    spec,
  };
}

export function fixtureModel(): MeshModel {
  return {
    namespaces: ["shop", "data", "trellis-system"].map(namespace),
    services: [frontend, backend, backendV2, db],
    endpointSlices: [
      slice(frontend, [{ name: "http", port: 8080 }], [{ pod: frontendPod, zone: "zone-a" }]),
      slice(
        backend,
        [
          { name: "web", port: 8080 },
          { name: "grpc", port: 9090 },
        ],
        [
          { pod: backendPod1, zone: "zone-a" },
          { pod: backendPod2, zone: "zone-b", ready: false },
        ],
      ),
      slice(backendV2, [{ name: "http", port: 8080 }], [{ pod: backendV2Pod, zone: "zone-b" }]),
      slice(db, [{ name: "tcp-postgres", port: 5432 }], [{ pod: dbPod, zone: "zone-b" }]),
    ],
    pods: [frontendPod, backendPod1, backendPod2, backendV2Pod, dbPod],
    httpRoutes: [backendRoute],
    grpcRoutes: [backendGrpcRoute],
    peerAuthentications: [
      peerAuthentication("trellis-system", "default", { mtls: { mode: "PERMISSIVE" } }),
      peerAuthentication("data", "strict", { mtls: { mode: "STRICT" } }),
    ],
    authorizationPolicies: [
      authorizationPolicy("shop", "backend-allow", {
        selector: { matchLabels: { app: "backend" } },
        action: "ALLOW",
        rules: [
          {
            from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend"] } }],
            to: [{ operation: { methods: ["GET", "POST"], paths: ["/api/*"] } }],
          },
          {
            from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend"] } }],
            to: [{ operation: { ports: ["9090"] } }],
          },
        ],
      }),
      authorizationPolicy("data", "db-allow-backend", {
        selector: { matchLabels: { app: "db" } },
        action: "ALLOW",
        rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/backend"] } }] }],
      }),
      authorizationPolicy("data", "deny-legacy", {
        action: "DENY",
        rules: [{ from: [{ source: { namespaces: ["legacy"] } }] }],
      }),
    ],
  };
}

/** The fixture with annotations on some of its Services, by Service name. */
export function annotatedModel(
  annotations: Readonly<Record<string, Record<string, string>>>,
): MeshModel {
  const model = fixtureModel();
  const services = model.services.map((s) =>
    annotations[s.metadata.name]
      ? { ...s, metadata: { ...s.metadata, annotations: annotations[s.metadata.name] } }
      : s,
  );
  return { ...model, services };
}

export function sidecarNode(
  ns: string,
  podName: string,
  extra: Partial<ProxyNode> = {},
): ProxyNode {
  return {
    id: `sidecar~0.0.0.0~${podName}.${ns}~${ns}.svc.cluster.local`,
    kind: "sidecar",
    namespace: ns,
    podName,
    labels: {},
    ips: [],
    ...extra,
  };
}

export function proxylessNode(ns: string, id = `grpc-client.${ns}`): ProxyNode {
  return {
    id,
    kind: "proxyless",
    namespace: ns,
    labels: {},
    ips: [],
    locality: { zone: "zone-a" },
  };
}

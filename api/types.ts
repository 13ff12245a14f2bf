// The Kubernetes-shaped resources Trellis understands, as TypeScript types: the shapes of
// the Kubernetes API (core/v1, discovery.k8s.io/v1, networking.k8s.io/v1), Gateway API
// (HTTPRoute/GRPCRoute, GAMMA: parentRefs of kind Service) and Istio security
// (PeerAuthentication, AuthorizationPolicy). Only the fields Trellis reads are typed;
// parsing (parse.ts) keeps everything else a manifest carries untouched.

export interface ObjectMeta {
  name: string;
  /** Absent only for cluster-scoped kinds (Namespace); parse.ts defaults it to "default". */
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Set by the Store: a decimal string, increasing across every change in the store. */
  resourceVersion?: string;
  uid?: string;
  generation?: number;
  creationTimestamp?: string;
  /** Set when the object is being deleted (a terminating Pod: its endpoints stop being ready). */
  deletionTimestamp?: string;
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

// ---- core/v1 ----

export interface Namespace {
  apiVersion: "v1";
  kind: "Namespace";
  metadata: ObjectMeta;
}

export type Protocol = "TCP" | "UDP" | "SCTP";

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: Protocol;
}

export interface Probe {
  httpGet?: { path?: string; port: number | string; scheme?: "HTTP" | "HTTPS" };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
}

export interface PodSpec {
  serviceAccountName?: string;
  nodeName?: string;
  containers: Container[];
  restartPolicy?: "Always" | "OnFailure" | "Never";
}

export interface PodCondition {
  type: "Ready" | "ContainersReady" | "Initialized" | "PodScheduled";
  status: "True" | "False" | "Unknown";
}

export interface PodStatus {
  phase?: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";
  podIP?: string;
  podIPs?: { ip: string }[];
  hostIP?: string;
  conditions?: PodCondition[];
}

export interface Pod {
  apiVersion: "v1";
  kind: "Pod";
  metadata: ObjectMeta;
  spec: PodSpec;
  status?: PodStatus;
}

export interface ServicePort {
  name?: string;
  protocol?: Protocol;
  port: number;
  /** A number, or the name of a container port; defaults to `port`. */
  targetPort?: number | string;
  nodePort?: number;
  /** e.g. "http", "http2", "grpc", "kubernetes.io/h2c", "tcp". */
  appProtocol?: string;
}

export interface ServiceSpec {
  type?: "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";
  /** "None" for a headless Service. */
  clusterIP?: string;
  clusterIPs?: string[];
  selector?: Record<string, string>;
  ports?: ServicePort[];
  sessionAffinity?: "None" | "ClientIP";
}

export interface Service {
  apiVersion: "v1";
  kind: "Service";
  metadata: ObjectMeta;
  spec: ServiceSpec;
}

// ---- discovery.k8s.io/v1 ----

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  nodeName?: string;
  zone?: string;
  targetRef?: { kind: "Pod"; namespace: string; name: string; uid?: string };
}

export interface EndpointPort {
  name?: string;
  protocol?: Protocol;
  port?: number;
  appProtocol?: string;
}

export interface EndpointSlice {
  apiVersion: "discovery.k8s.io/v1";
  kind: "EndpointSlice";
  /** labels["kubernetes.io/service-name"] names the Service the slice belongs to. */
  metadata: ObjectMeta;
  addressType: "IPv4" | "IPv6" | "FQDN";
  endpoints: Endpoint[];
  ports?: EndpointPort[];
}

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
export const MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";

// ---- apps/v1 (the lab expands Deployments into Pods) ----

export interface Deployment {
  apiVersion: "apps/v1";
  kind: "Deployment";
  metadata: ObjectMeta;
  spec: {
    replicas?: number;
    selector: LabelSelector;
    template: { metadata: Omit<ObjectMeta, "name"> & { name?: string }; spec: PodSpec };
  };
}

// ---- networking.k8s.io/v1 ----

export interface NetworkPolicyPort {
  protocol?: Protocol;
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface NetworkPolicy {
  apiVersion: "networking.k8s.io/v1";
  kind: "NetworkPolicy";
  metadata: ObjectMeta;
  spec: {
    podSelector: LabelSelector;
    policyTypes?: ("Ingress" | "Egress")[];
    ingress?: { from?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
    egress?: { to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
  };
}

// ---- gateway.networking.k8s.io/v1 (GAMMA) ----

export interface ParentReference {
  group?: string; // "" (core) for a Service
  kind?: string; // "Service" for GAMMA; "Gateway" is accepted by parsing, ignored by the mesh
  namespace?: string;
  name: string;
  port?: number;
}

export interface BackendRef {
  group?: string;
  kind?: string; // "Service"
  name: string;
  namespace?: string;
  port?: number;
  /** Default 1; 0 means no traffic. */
  weight?: number;
}

export interface HTTPHeaderMatch {
  type?: "Exact" | "RegularExpression";
  name: string;
  value: string;
}

export interface HTTPRouteMatch {
  path?: { type?: "Exact" | "PathPrefix" | "RegularExpression"; value?: string };
  headers?: HTTPHeaderMatch[];
  queryParams?: { type?: "Exact" | "RegularExpression"; name: string; value: string }[];
  method?: "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH";
}

/** Gateway API's HTTPRoute retry (GEP-1731, v1.2 standard channel). */
export interface HTTPRouteRetry {
  /** Retryable HTTP status codes (400–599); default: 500, 502, 503, 504 as Envoy's 5xx. */
  codes?: number[];
  /** Total retries (not counting the first try). */
  attempts?: number;
  /** Base backoff, a Gateway API Duration ("100ms", "1s"). */
  backoff?: string;
}

export interface HTTPRouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  backendRefs?: BackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
  retry?: HTTPRouteRetry;
}

export interface HTTPRoute {
  apiVersion: "gateway.networking.k8s.io/v1";
  kind: "HTTPRoute";
  metadata: ObjectMeta;
  spec: { parentRefs?: ParentReference[]; hostnames?: string[]; rules?: HTTPRouteRule[] };
}

export interface GRPCMethodMatch {
  type?: "Exact" | "RegularExpression";
  service?: string;
  method?: string;
}

export interface GRPCRouteRule {
  name?: string;
  matches?: { method?: GRPCMethodMatch; headers?: HTTPHeaderMatch[] }[];
  backendRefs?: BackendRef[];
  /** Not in GRPCRoute v1 upstream; Trellis accepts the HTTPRoute fields for gRPC too. */
  timeouts?: { request?: string; backendRequest?: string };
  /**
   * As HTTPRouteRetry, with `codes` being gRPC status names or numbers
   * ("UNAVAILABLE", 14); default: UNAVAILABLE.
   */
  retry?: { codes?: (string | number)[]; attempts?: number; backoff?: string };
}

export interface GRPCRoute {
  apiVersion: "gateway.networking.k8s.io/v1";
  kind: "GRPCRoute";
  metadata: ObjectMeta;
  spec: { parentRefs?: ParentReference[]; hostnames?: string[]; rules?: GRPCRouteRule[] };
}

// ---- security.istio.io/v1 ----

export type MtlsMode = "UNSET" | "STRICT" | "PERMISSIVE" | "DISABLE";

export interface PeerAuthentication {
  apiVersion: "security.istio.io/v1" | "security.istio.io/v1beta1";
  kind: "PeerAuthentication";
  /** In the root namespace (istio-system / trellis-system) without a selector: mesh-wide. */
  metadata: ObjectMeta;
  spec: {
    selector?: { matchLabels?: Record<string, string> };
    mtls?: { mode?: MtlsMode };
    portLevelMtls?: Record<string, { mode?: MtlsMode }>;
  };
}

export interface AuthorizationRule {
  from?: {
    source: {
      principals?: string[];
      notPrincipals?: string[];
      namespaces?: string[];
      notNamespaces?: string[];
      ipBlocks?: string[];
      notIpBlocks?: string[];
    };
  }[];
  to?: {
    operation: {
      methods?: string[];
      notMethods?: string[];
      paths?: string[];
      notPaths?: string[];
      ports?: string[];
      notPorts?: string[];
      hosts?: string[];
    };
  }[];
  when?: { key: string; values?: string[]; notValues?: string[] }[];
}

export interface AuthorizationPolicy {
  apiVersion: "security.istio.io/v1" | "security.istio.io/v1beta1";
  kind: "AuthorizationPolicy";
  metadata: ObjectMeta;
  spec: {
    selector?: { matchLabels?: Record<string, string> };
    /** Default ALLOW. */
    action?: "ALLOW" | "DENY" | "AUDIT";
    /** No rules with ALLOW: allows nothing. An empty rule `{}` matches everything. */
    rules?: AuthorizationRule[];
  };
}

/** The mesh's root namespace: mesh-wide PeerAuthentication and AuthorizationPolicy live here. */
export const ROOT_NAMESPACE = "trellis-system";

export type Resource =
  | Namespace
  | Pod
  | Service
  | EndpointSlice
  | Deployment
  | NetworkPolicy
  | HTTPRoute
  | GRPCRoute
  | PeerAuthentication
  | AuthorizationPolicy;

export type Kind = Resource["kind"];

export type ResourceOf<K extends Kind> = Extract<Resource, { kind: K }>;

export const KINDS: readonly Kind[] = [
  "Namespace",
  "Pod",
  "Service",
  "EndpointSlice",
  "Deployment",
  "NetworkPolicy",
  "HTTPRoute",
  "GRPCRoute",
  "PeerAuthentication",
  "AuthorizationPolicy",
];

export const CLUSTER_SCOPED: ReadonlySet<Kind> = new Set(["Namespace"]);

/** The store's key for a resource: "Kind/namespace/name" ("Kind/name" when cluster-scoped). */
export function keyOf(r: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return r.metadata.namespace === undefined
    ? `${r.kind}/${r.metadata.name}`
    : `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}

// compileMesh: everything the proxies share, computed once per model change — per Service
// port its clusters (sidecar and proxyless variants), assignment, route configuration,
// outbound chain and proxyless listener — plus the virtualOutbound listener, the ROOTCA
// secret and a digest of all of it. Per-proxy work (snapshot.ts) then only adds the
// proxy's own inbound side and picks maps, so that one object stands for one resource
// across every proxy that gets it: the xDS cache memoizes encoding by object identity.

import type { Service } from "../../api/types.js";
import type { XdsMessage } from "../../api/xds-proto.js";
import type { ResourceMap } from "../xds/types.js";
import { authorizationWarnings } from "./authz.js";
import { CIRCUIT_BREAKER_ANNOTATION, circuitBreakersOf } from "./circuit-breaker.js";
import {
  LB_POLICIES,
  LB_POLICY_ANNOTATION,
  type LbPolicy,
  outboundCluster,
  SIDECAR_SPECIAL_CLUSTERS,
} from "./clusters.js";
import { loadAssignment, serviceIdentities, servingAddresses } from "./endpoints.js";
import {
  HASH_ON_ANNOTATION,
  type HashOn,
  hashOnOf,
  routeHashPolicy,
  tcpHashPolicy,
} from "./hash-policy.js";
import { Interner } from "./intern.js";
import {
  type OutboundChain,
  outboundListener,
  rdsConnectionManager,
} from "./listeners-outbound.js";
import {
  indexModel,
  type MeshIndex,
  type MeshModel,
  namespaceOf,
  objectKey,
  resourceRef,
  type TranslateOptions,
  type TranslateWarning,
} from "./model.js";
import {
  outboundClusterName,
  outboundSni,
  PASSTHROUGH_CLUSTER,
  ROOT_CA_SECRET,
  routeConfigName,
  serviceHost,
} from "./names.js";
import { OUTLIER_DETECTION_ANNOTATION, outlierDetectionOf } from "./outlier.js";
import { isHttpLike, type PortProtocol, servicePortProtocol } from "./protocol.js";
import { apiListener } from "./proxyless.js";
import { compileRoutes, type RoutePort } from "./route-attach.js";
import { rootCaSecret, upstreamTlsContext } from "./tls.js";

/** The resources every proxy of a kind shares. */
export interface SharedResources {
  /** Outbound clusters with auto mTLS, then Passthrough, BlackHole, InboundPassthrough. */
  readonly sidecarClusters: ResourceMap;
  readonly proxylessClusters: ResourceMap;
  readonly loadAssignments: ResourceMap;
  /** Route configurations as proxies outside any consumer namespace see them. */
  readonly routes: ResourceMap;
  /** Complete route maps for namespaces with consumer routes (GAMMA) of their own. */
  readonly routesByNamespace: ReadonlyMap<string, ResourceMap>;
  readonly outboundListener: XdsMessage;
  readonly proxylessListeners: ResourceMap;
  readonly secrets: ResourceMap;
}

export interface CompiledMesh {
  readonly options: TranslateOptions;
  readonly index: MeshIndex;
  readonly shared: SharedResources;
  /** A content hash of `shared`: part of every snapshot's version. */
  readonly digest: string;
  readonly warnings: readonly TranslateWarning[];
  /** Per-workload results, filled by snapshotFor (memoization; never observable). */
  readonly memo: Map<string, unknown>;
  /** Keeps unchanged resources the same objects as in the previous compile (intern.ts). */
  readonly interner: Interner;
}

function clusterIPs(svc: Service): string[] {
  const ips = svc.spec.clusterIPs?.length ? svc.spec.clusterIPs : [svc.spec.clusterIP ?? ""];
  return ips.filter((ip) => ip !== "" && ip !== "None");
}

/** The Service's trellis.dev/lb-policy, ROUND_ROBIN when absent or not one we know. */
function lbPolicyOf(svc: Service, warn: (w: TranslateWarning) => void): LbPolicy {
  const value = svc.metadata.annotations?.[LB_POLICY_ANNOTATION];
  if (value === undefined) return "ROUND_ROBIN";
  if ((LB_POLICIES as readonly string[]).includes(value)) return value as LbPolicy;
  warn({
    code: "UNSUPPORTED_ANNOTATION",
    resource: resourceRef(svc),
    message: `${LB_POLICY_ANNOTATION}: ${JSON.stringify(value)} is not one of ${LB_POLICIES.join(", ")}; using ROUND_ROBIN`,
  });
  return "ROUND_ROBIN";
}

/**
 * The Service's trellis.dev/hash-on, or none. It keys a ring hash, so it needs
 * trellis.dev/lb-policy RING_HASH: with another policy it would do nothing, and says so.
 */
function hashOnFor(
  svc: Service,
  lbPolicy: LbPolicy,
  warn: (w: TranslateWarning) => void,
): HashOn | undefined {
  const value = svc.metadata.annotations?.[HASH_ON_ANNOTATION];
  if (value === undefined) return undefined;
  const result = hashOnOf(value);
  const problem = !result.ok
    ? result.problem
    : lbPolicy !== "RING_HASH"
      ? `${JSON.stringify(value)} needs ${LB_POLICY_ANNOTATION}: RING_HASH, and the policy is ${lbPolicy}`
      : undefined;
  if (result.ok && problem === undefined) return result.hashOn;
  warn({
    code: "UNSUPPORTED_ANNOTATION",
    resource: resourceRef(svc),
    message: `${HASH_ON_ANNOTATION}: ${problem}; no hash policy`,
  });
  return undefined;
}

/** The Service's trellis.dev/circuit-breaker for its clusters, or none (Envoy's defaults). */
function circuitBreakersFor(
  svc: Service,
  warn: (w: TranslateWarning) => void,
): XdsMessage | undefined {
  const value = svc.metadata.annotations?.[CIRCUIT_BREAKER_ANNOTATION];
  if (value === undefined) return undefined;
  const result = circuitBreakersOf(value);
  if (result.ok) return result.circuitBreakers;
  warn({
    code: "UNSUPPORTED_ANNOTATION",
    resource: resourceRef(svc),
    message: `${CIRCUIT_BREAKER_ANNOTATION}: ${result.problem}; Envoy's default thresholds`,
  });
  return undefined;
}

/** `previous` when it holds the same maps under the same keys, else `next`. */
function sameMaps<K, V>(next: ReadonlyMap<K, V>, previous?: ReadonlyMap<K, V>): ReadonlyMap<K, V> {
  if (!previous || previous.size !== next.size) return next;
  for (const [k, v] of next) if (previous.get(k) !== v) return next;
  return previous;
}

/**
 * The Service's trellis.dev/outlier-detection for its sidecar clusters (proxyless gRPC
 * clients get none: outlier detection there is still experimental), or none.
 */
function outlierOf(svc: Service, warn: (w: TranslateWarning) => void): XdsMessage | undefined {
  const value = svc.metadata.annotations?.[OUTLIER_DETECTION_ANNOTATION];
  if (value === undefined) return undefined;
  const result = outlierDetectionOf(value);
  if (result.ok) return result.detection;
  warn({
    code: "UNSUPPORTED_ANNOTATION",
    resource: resourceRef(svc),
    message: `${OUTLIER_DETECTION_ANNOTATION}: ${result.problem}; no outlier detection`,
  });
  return undefined;
}

/**
 * Compiles the mesh. Given the `previous` compile, every resource whose content did not
 * change is that compile's object, and every unchanged map its Map (see intern.ts).
 */
export function compileMesh(
  model: MeshModel,
  options: TranslateOptions,
  previous?: CompiledMesh,
): CompiledMesh {
  const index = indexModel(model);
  const warnings: TranslateWarning[] = [];
  const warn = (w: TranslateWarning) => warnings.push(w);
  const sidecarClusters = new Map<string, XdsMessage>();
  const proxylessClusters = new Map<string, XdsMessage>();
  const loadAssignments = new Map<string, XdsMessage>();
  const proxylessListeners = new Map<string, XdsMessage>();
  const routePorts = new Map<string, RoutePort>();
  const routeHashPolicies = new Map<string, readonly XdsMessage[]>();
  const chains: OutboundChain[] = [];

  for (const svc of index.services) {
    if (svc.spec.type === "ExternalName") continue;
    const ns = namespaceOf(svc);
    const host = serviceHost(svc.metadata.name, ns, options.clusterDomain);
    const slices = index.slicesByService.get(objectKey(svc)) ?? [];
    const identities = serviceIdentities(slices, index.podByKey, options.trustDomain);
    const ips = clusterIPs(svc);
    const headless = svc.spec.clusterIP === "None";
    const resource = resourceRef(svc);
    const lbPolicy = lbPolicyOf(svc, warn);
    const outlier = outlierOf(svc, warn);
    const hashOn = hashOnFor(svc, lbPolicy, warn);
    const circuitBreakers = circuitBreakersFor(svc, warn);
    for (const port of svc.spec.ports ?? []) {
      const protocol: PortProtocol | undefined = servicePortProtocol(port);
      if (protocol === undefined) continue;
      const http = isHttpLike(protocol);
      const name = outboundClusterName(port.port, host);
      const tls = upstreamTlsContext({
        sni: outboundSni(port.port, host),
        peerIdentities: identities,
        http,
      });
      sidecarClusters.set(
        name,
        outboundCluster(name, protocol, tls, {
          lbPolicy,
          outlierDetection: outlier,
          circuitBreakers,
        }),
      );
      // gRPC's xDS clients honour max_requests of the circuit breakers, not the rest.
      proxylessClusters.set(
        name,
        outboundCluster(name, protocol, undefined, { lbPolicy, circuitBreakers }),
      );
      loadAssignments.set(name, loadAssignment(name, port, slices, index.podByKey));
      let hcm: XdsMessage | undefined;
      if (http) {
        const rc = routeConfigName(host, port.port);
        hcm = rdsConnectionManager(name, rc);
        routePorts.set(rc, { cluster: name, namespace: ns });
        proxylessListeners.set(rc, apiListener(rc, hcm));
        if (hashOn) routeHashPolicies.set(name, routeHashPolicy(hashOn));
      } else if (hashOn?.kind === "header") {
        warn({
          code: "UNSUPPORTED_ANNOTATION",
          resource,
          message: `${HASH_ON_ANNOTATION}: a TCP connection has no headers to hash, so port ${port.port}'s ring hash picks a random point`,
        });
      }
      const tcpHash = hashOn ? tcpHashPolicy(hashOn) : undefined;
      if (!headless && ips.length > 0) {
        chains.push(
          hcm
            ? { name, resource, addresses: ips, port: port.port, connectionManager: hcm }
            : {
                name,
                resource,
                addresses: ips,
                port: port.port,
                tcpCluster: name,
                ...(tcpHash ? { tcpHashPolicy: tcpHash } : {}),
              },
        );
      } else if (headless && options.outboundTrafficPolicy === "REGISTRY_ONLY") {
        for (const { address, port: target } of servingAddresses(port, slices)) {
          chains.push({
            name: `${name}|${address}`,
            resource,
            addresses: [address],
            port: target,
            tcpCluster: PASSTHROUGH_CLUSTER,
          });
        }
      }
    }
  }
  for (const c of SIDECAR_SPECIAL_CLUSTERS) sidecarClusters.set(c.name as string, c);

  const { routes, routesByNamespace } = compileRoutes(index, options, routePorts, warn, (c) =>
    routeHashPolicies.get(c),
  );
  warnings.push(...authorizationWarnings(model.authorizationPolicies));
  const interner = new Interner(previous?.interner.table);
  const namespaces = [...routesByNamespace.keys()].sort();
  const shared: SharedResources = {
    sidecarClusters: interner.map("cds", sidecarClusters),
    proxylessClusters: interner.map("cds.proxyless", proxylessClusters),
    loadAssignments: interner.map("eds", loadAssignments),
    routes: interner.map("rds", routes),
    routesByNamespace: sameMaps(
      new Map(
        namespaces.map((ns) => [
          ns,
          interner.map(`rds.${ns}`, routesByNamespace.get(ns) ?? routes),
        ]),
      ),
      previous?.shared.routesByNamespace,
    ),
    outboundListener: interner.one("lds.outbound", outboundListener(chains, options, warn)),
    proxylessListeners: interner.map("lds.proxyless", proxylessListeners),
    secrets: interner.map("sds", new Map([[ROOT_CA_SECRET, rootCaSecret(options.trustBundlePem)]])),
  };
  const digest = interner.digest([
    "cds",
    "cds.proxyless",
    "eds",
    "rds",
    ...namespaces.map((ns) => `rds.${ns}`),
    "lds.outbound",
    "lds.proxyless",
    "sds",
  ]);
  return { options, index, shared, digest, warnings, memo: new Map(), interner };
}

// snapshotFor: one proxy's Snapshot from a CompiledMesh. A proxyless client gets shared
// maps only. A sidecar adds its own inbound side — the virtualInbound listener and the
// inbound clusters of its pod's ports — built once per distinct workload (namespace, labels,
// ports: the replicas of a Deployment share it) and memoized in the CompiledMesh, so the
// per-proxy cost is a few Map lookups, not proportional to the mesh.

import { createHash } from "node:crypto";
import { matchesLabelMap } from "../../api/labels.js";
import type { Pod } from "../../api/types.js";
import { PUSH_ORDER, TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import { SIDECAR } from "../../cni-redirect/redirect-config.js";
import type { ProxyNode, ResourceMap, Snapshot } from "../xds/types.js";
import { selectPolicies } from "./authz.js";
import { inboundCluster } from "./clusters.js";
import type { CompiledMesh } from "./compile.js";
import { type InboundPort, type InboundWorkload, inboundListener } from "./listeners-inbound.js";
import { compareStrings, getOrCreate, namespaceOf } from "./model.js";
import { VIRTUAL_OUTBOUND_LISTENER } from "./names.js";
import { effectiveMtls, modeForPort } from "./peer-authn.js";
import { type PortProtocol, servicePortProtocol } from "./protocol.js";

interface WorkloadResources {
  readonly clusters: ResourceMap;
  readonly listeners: ResourceMap;
  readonly digest: string;
}

const EMPTY: ResourceMap = new Map();
const OWN_PORTS: ReadonlySet<number> = new Set(SIDECAR.ownPorts);

/** The ports a pod serves and their protocols, from its containers and its Services. */
function podPorts(compiled: CompiledMesh, pod: Pod): Map<number, PortProtocol> {
  const labels = pod.metadata.labels ?? {};
  const ns = namespaceOf(pod);
  const containerPorts = pod.spec.containers
    .flatMap((c) => c.ports ?? [])
    .filter((p) => (p.protocol ?? "TCP") === "TCP");
  const ports = new Map<number, PortProtocol | undefined>();
  for (const p of containerPorts)
    if (!ports.has(p.containerPort)) ports.set(p.containerPort, undefined);
  for (const svc of compiled.index.servicesByNamespace.get(ns) ?? []) {
    if (!matchesLabelMap(svc.spec.selector, labels)) continue;
    for (const sp of svc.spec.ports ?? []) {
      const protocol = servicePortProtocol(sp);
      if (protocol === undefined) continue;
      const target = sp.targetPort ?? sp.port;
      const number =
        typeof target === "number"
          ? target
          : containerPorts.find((c) => c.name === target)?.containerPort;
      if (number === undefined) continue;
      // The first Service (by namespace/name) to declare a port decides its protocol.
      if (ports.get(number) === undefined) ports.set(number, protocol);
    }
  }
  const out = new Map<number, PortProtocol>();
  for (const [port, protocol] of [...ports].sort(([a], [b]) => a - b)) {
    if (!OWN_PORTS.has(port)) out.set(port, protocol ?? "tcp");
  }
  return out;
}

function workloadResources(compiled: CompiledMesh, node: ProxyNode): WorkloadResources {
  const pod =
    node.namespace !== undefined && node.podName !== undefined
      ? compiled.index.podByKey.get(`${node.namespace}/${node.podName}`)
      : undefined;
  const namespace = pod ? namespaceOf(pod) : node.namespace;
  const labels = pod ? (pod.metadata.labels ?? {}) : node.labels;
  const containers = pod?.spec.containers.map((c) => c.ports ?? []) ?? [];
  const key = `workload ${JSON.stringify([
    namespace ?? null,
    Object.entries(labels).sort(([a], [b]) => compareStrings(a, b)),
    pod !== undefined,
    containers,
  ])}`;
  const memo = compiled.memo.get(key) as WorkloadResources | undefined;
  if (memo) return memo;

  const mtls = effectiveMtls(compiled.index.peerAuthenticationsByNamespace, namespace, labels);
  const ports: InboundPort[] = [
    ...(pod ? podPorts(compiled, pod) : new Map<number, PortProtocol>()),
  ].map(([port, protocol]) => ({ port, protocol, mode: modeForPort(mtls, port) }));
  const workload: InboundWorkload = {
    ports,
    mode: mtls.mode,
    policies: selectPolicies(compiled.index.authorizationPoliciesByNamespace, namespace, labels),
  };
  const inbound = inboundListener(workload);
  const { interner } = compiled;
  const clusters = interner.map(`${key} clusters`, clusterMap(compiled, ports));
  const listeners = interner.map(
    `${key} listeners`,
    new Map([
      [VIRTUAL_OUTBOUND_LISTENER, compiled.shared.outboundListener],
      [inbound.name as string, inbound],
    ]),
  );
  const result: WorkloadResources = {
    clusters,
    listeners,
    digest: interner.digest([`${key} clusters`, `${key} listeners`]),
  };
  compiled.memo.set(key, result);
  return result;
}

/** One object per inbound port+protocol across all workloads. */
function sharedInboundCluster(
  compiled: CompiledMesh,
  port: number,
  protocol: PortProtocol,
): XdsMessage {
  const key = `inbound-cluster ${port} ${protocol}`;
  return getOrCreate(compiled.memo, key, () => inboundCluster(port, protocol)) as XdsMessage;
}

/** The shared sidecar clusters plus inbound ones; workloads with the same ports share the Map. */
function clusterMap(compiled: CompiledMesh, ports: readonly InboundPort[]): ResourceMap {
  const key = `cluster-map ${ports.map((p) => `${p.port}/${p.protocol}`).join(" ")}`;
  return getOrCreate(compiled.memo, key, () => {
    const map = new Map(compiled.shared.sidecarClusters);
    for (const p of ports) {
      const cluster = sharedInboundCluster(compiled, p.port, p.protocol);
      map.set(cluster.name as string, cluster);
    }
    return map;
  }) as ResourceMap;
}

function resources(byType: Record<TypeUrl, ResourceMap>): Map<TypeUrl, ResourceMap> {
  return new Map(PUSH_ORDER.map((t) => [t, byType[t]]));
}

function version(...parts: string[]): string {
  return createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 16);
}

/** The complete resource set for one proxy. Cheap: reuses the compiled objects and Maps. */
export function snapshotFor(compiled: CompiledMesh, node: ProxyNode): Snapshot {
  const { shared } = compiled;
  const routeNs =
    node.namespace !== undefined && shared.routesByNamespace.has(node.namespace)
      ? node.namespace
      : "";
  const routes = shared.routesByNamespace.get(routeNs) ?? shared.routes;
  if (node.kind === "proxyless") {
    return {
      version: version(compiled.digest, "proxyless", routeNs),
      resources: resources({
        [TypeUrl.Cluster]: shared.proxylessClusters,
        [TypeUrl.ClusterLoadAssignment]: shared.loadAssignments,
        [TypeUrl.Secret]: EMPTY,
        [TypeUrl.Listener]: shared.proxylessListeners,
        [TypeUrl.RouteConfiguration]: routes,
      }),
    };
  }
  const workload = workloadResources(compiled, node);
  return {
    version: version(compiled.digest, "sidecar", routeNs, workload.digest),
    resources: resources({
      [TypeUrl.Cluster]: workload.clusters,
      [TypeUrl.ClusterLoadAssignment]: shared.loadAssignments,
      [TypeUrl.Secret]: shared.secrets,
      [TypeUrl.Listener]: workload.listeners,
      [TypeUrl.RouteConfiguration]: routes,
    }),
  };
}

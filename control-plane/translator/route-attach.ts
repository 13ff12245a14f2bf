// Which HTTPRoutes and GRPCRoutes attach to which Service port, and the RouteConfigurations
// that result: producer routes (in the Service's namespace) for every proxy; consumer
// routes (GAMMA: a route in another namespace with the Service as parent) replace them for
// proxies in that namespace only, as complete per-namespace route maps.

import type { BackendRef } from "../../api/types.js";
import type { XdsMessage } from "../../api/xds-proto.js";
import type { ResourceMap } from "../xds/types.js";
import {
  getOrCreate,
  type MeshIndex,
  namespaceOf,
  resourceRef,
  type TranslateOptions,
  type TranslateWarning,
} from "./model.js";
import { outboundClusterName, routeConfigName, serviceHost } from "./names.js";
import { servicePortProtocol } from "./protocol.js";
import {
  type AttachedRoute,
  attachedRoutes,
  type BackendResolver,
  defaultRoute,
  type HashPolicyOf,
  routeConfiguration,
} from "./routes.js";

/** An HTTP-like Service port, by its route configuration name. */
export interface RoutePort {
  /** The port's own cluster: where requests go when no route attaches. */
  readonly cluster: string;
  /** The Service's namespace: routes from there are the producer routes. */
  readonly namespace: string;
}

/** Which Service port (by cluster) a backendRef names, if it exists and is meshed. */
function backendResolver(index: MeshIndex, options: TranslateOptions): BackendResolver {
  return (ref: BackendRef, routeNs: string) => {
    if ((ref.kind ?? "Service") !== "Service" || !["", "core"].includes(ref.group ?? "")) {
      return undefined;
    }
    const ns = ref.namespace ?? routeNs;
    const svc = index.serviceByKey.get(`${ns}/${ref.name}`);
    if (!svc || svc.spec.type === "ExternalName") return undefined;
    const ports = svc.spec.ports ?? [];
    const port =
      ref.port === undefined && ports.length === 1
        ? ports[0]
        : ports.find((p) => p.port === ref.port);
    if (!port || servicePortProtocol(port) === undefined) return undefined;
    return outboundClusterName(port.port, serviceHost(ref.name, ns, options.clusterDomain));
  };
}

/** HTTPRoutes/GRPCRoutes by route configuration name, then by the route's namespace. */
function attachRoutes(
  index: MeshIndex,
  options: TranslateOptions,
  routePorts: ReadonlyMap<string, RoutePort>,
  warn: (w: TranslateWarning) => void,
): Map<string, Map<string, AttachedRoute[]>> {
  const out = new Map<string, Map<string, AttachedRoute[]>>();
  const all: AttachedRoute[] = [
    ...index.httpRoutes.map((route) => ({ kind: "HTTPRoute", route }) as const),
    ...index.grpcRoutes.map((route) => ({ kind: "GRPCRoute", route }) as const),
  ];
  for (const a of all) {
    const routeNs = namespaceOf(a.route);
    const names = new Set<string>();
    for (const ref of a.route.spec.parentRefs ?? []) {
      if (ref.kind !== "Service" || !["", "core", undefined].includes(ref.group)) continue;
      const ns = ref.namespace ?? routeNs;
      const svc = index.serviceByKey.get(`${ns}/${ref.name}`);
      if (!svc) {
        warn({
          code: "ROUTE_PARENT_NOT_FOUND",
          resource: resourceRef(a.route),
          message: `parentRef Service ${ns}/${ref.name} does not exist: the route is not attached there`,
        });
        continue;
      }
      const host = serviceHost(ref.name, ns, options.clusterDomain);
      const ports = (svc.spec.ports ?? []).filter(
        (p) => ref.port === undefined || p.port === ref.port,
      );
      let attached = 0;
      for (const p of ports) {
        const name = routeConfigName(host, p.port);
        if (routePorts.has(name)) {
          names.add(name);
          attached++;
        }
      }
      if (ref.port !== undefined && attached === 0) {
        warn({
          code: "ROUTE_PORT_NOT_HTTP",
          resource: resourceRef(a.route),
          message: `parentRef Service ${ns}/${ref.name} port ${ref.port} is not an HTTP, HTTP/2 or gRPC port of that Service: the route is not attached there`,
        });
      }
    }
    for (const name of names) {
      getOrCreate(
        getOrCreate(out, name, () => new Map()),
        routeNs,
        () => [],
      ).push(a);
    }
  }
  return out;
}

export interface CompiledRoutes {
  readonly routes: ResourceMap;
  readonly routesByNamespace: ReadonlyMap<string, ResourceMap>;
}

export function compileRoutes(
  index: MeshIndex,
  options: TranslateOptions,
  routePorts: ReadonlyMap<string, RoutePort>,
  warn: (w: TranslateWarning) => void,
  hashPolicyOf: HashPolicyOf = () => undefined,
): CompiledRoutes {
  const attachments = attachRoutes(index, options, routePorts, warn);
  const resolve = backendResolver(index, options);
  const reported = new Set<string>();
  const reportInvalid = (a: AttachedRoute, ref: BackendRef) => {
    const target = `${ref.namespace ?? namespaceOf(a.route)}/${ref.name}:${ref.port ?? ""}`;
    const key = `${resourceRef(a.route)} ${target}`;
    if (reported.has(key)) return;
    reported.add(key);
    warn({
      code: "BACKEND_NOT_FOUND",
      resource: resourceRef(a.route),
      message: `backendRef ${ref.kind ?? "Service"} ${target} does not resolve to a Service port: its share of requests gets 500`,
    });
  };
  const routes = new Map<string, XdsMessage>();
  const consumer = new Map<string, Map<string, XdsMessage>>();
  for (const [name, rp] of routePorts) {
    const byNs = attachments.get(name);
    const producers = byNs?.get(rp.namespace);
    routes.set(
      name,
      routeConfiguration(
        name,
        producers
          ? attachedRoutes(producers, resolve, reportInvalid, hashPolicyOf)
          : [defaultRoute(rp.cluster, hashPolicyOf(rp.cluster))],
      ),
    );
    for (const [ns, list] of byNs ?? []) {
      if (ns === rp.namespace) continue;
      getOrCreate(consumer, ns, () => new Map()).set(
        name,
        routeConfiguration(name, attachedRoutes(list, resolve, reportInvalid, hashPolicyOf)),
      );
    }
  }
  const routesByNamespace = new Map<string, ResourceMap>();
  for (const [ns, overrides] of consumer) {
    routesByNamespace.set(ns, new Map([...routes, ...overrides]));
  }

  return { routes, routesByNamespace };
}

// The coherent configuration the sidecar runs on, assembled from what the xDS client has
// accepted. Make-before-break, as Envoy's warming does: a cluster is used once its endpoints
// are in, a listener once the route configurations it names are in; until then the
// previous version of that cluster or listener (if any) stays in service. Pure: the client
// calls it after every accepted update and publishes the result when it changed.

import { TypeUrl } from "../../api/xds-proto.js";
import type { DecodedResource } from "./resources.js";

export type ResourcesByName = ReadonlyMap<string, DecodedResource>;

/** What the proxy runs on: every resource here has what it refers to. */
export interface XdsConfig {
  readonly listeners: ResourcesByName;
  readonly routes: ResourcesByName;
  readonly clusters: ResourcesByName;
  /** ClusterLoadAssignments by EDS service name. */
  readonly endpoints: ResourcesByName;
  readonly secrets: ResourcesByName;
  /** Resources accepted but not yet in service, and what they wait for. */
  readonly warming: readonly string[];
}

export const EMPTY_CONFIG: XdsConfig = {
  listeners: new Map(),
  routes: new Map(),
  clusters: new Map(),
  endpoints: new Map(),
  secrets: new Map(),
  warming: [],
};

/** Accepted resources by type URL, then name. */
export type Accepted = ReadonlyMap<string, ResourcesByName>;

const none: ResourcesByName = new Map();

export function assembleConfig(accepted: Accepted, previous: XdsConfig = EMPTY_CONFIG): XdsConfig {
  const endpoints = accepted.get(TypeUrl.ClusterLoadAssignment) ?? none;
  const routes = accepted.get(TypeUrl.RouteConfiguration) ?? none;
  const secrets = accepted.get(TypeUrl.Secret) ?? none;
  const warming: string[] = [];

  const clusters = warm(
    accepted.get(TypeUrl.Cluster) ?? none,
    previous.clusters,
    (c) => c.refs.eds.filter((n) => !endpoints.has(n)).map((n) => `endpoints ${n}`),
    warming,
  );
  const listeners = warm(
    accepted.get(TypeUrl.Listener) ?? none,
    previous.listeners,
    (l) => l.refs.rds.filter((n) => !routes.has(n)).map((n) => `route configuration ${n}`),
    warming,
  );
  const config: XdsConfig = { listeners, routes, clusters, endpoints, secrets, warming };
  return sameConfig(config, previous) ? previous : config;
}

/** The accepted resources whose needs are met; for the others, their previous version. */
function warm(
  next: ResourcesByName,
  previous: ResourcesByName,
  missing: (r: DecodedResource) => string[],
  warming: string[],
): ResourcesByName {
  const out = new Map<string, DecodedResource>();
  for (const [name, resource] of next) {
    const waits = missing(resource);
    if (waits.length === 0) {
      out.set(name, resource);
      continue;
    }
    warming.push(`${kindOf(resource.typeUrl)} ${name} waits for ${waits.join(", ")}`);
    const old = previous.get(name);
    if (old) out.set(name, old);
  }
  return out;
}

const kindOf = (typeUrl: string) => typeUrl.slice(typeUrl.lastIndexOf(".") + 1);

function sameConfig(a: XdsConfig, b: XdsConfig): boolean {
  return (
    sameMap(a.listeners, b.listeners) &&
    sameMap(a.routes, b.routes) &&
    sameMap(a.clusters, b.clusters) &&
    sameMap(a.endpoints, b.endpoints) &&
    sameMap(a.secrets, b.secrets) &&
    a.warming.join("\n") === b.warming.join("\n")
  );
}

function sameMap(a: ResourcesByName, b: ResourcesByName): boolean {
  if (a.size !== b.size) return false;
  for (const [name, r] of a) if (b.get(name) !== r) return false;
  return true;
}

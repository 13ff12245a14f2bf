// Listener validation: where the sidecar listens (or, for a proxyless gRPC client, the API
// listener instead), its filter chains, and the filters the sidecar implements — network
// filters (the HTTP connection manager, tcp_proxy, RBAC) and the connection manager's HTTP
// filters. Collects the route configurations and clusters the filters name and the SDS
// secrets of the chains' TLS contexts.

import { at, checkPortNumber, type Rec, show } from "../../api/validate-common.js";
import { checkRouteConfiguration } from "./validate-route.js";
import {
  checkAdsSource,
  checkAny,
  checkSocketAddress,
  checkTransportSocket,
  exactlyOne,
  nonEmpty,
  uint32,
  type XdsCheck,
} from "./validate-shared.js";

const NETWORK = "envoy.extensions.filters.network";
const HTTP = "envoy.extensions.filters.http";
const HCM_TYPE = `${NETWORK}.http_connection_manager.v3.HttpConnectionManager`;

interface KnownFilter {
  /** The message its typed_config must hold. */
  readonly type: string;
  /** A terminal filter forwards the request or connection: it comes last, and a chain needs one. */
  readonly terminal: boolean;
  readonly check?: (c: XdsCheck, config: Rec, path: string) => void;
}

/** The filters the sidecar implements, by kind, for the messages about them. */
interface FilterKind {
  readonly what: "a network filter" | "an HTTP filter";
  readonly known: ReadonlyMap<string, KnownFilter>;
  readonly terminals: string;
}

const NETWORK_FILTERS: FilterKind = {
  what: "a network filter",
  known: new Map<string, KnownFilter>([
    [
      "envoy.filters.network.http_connection_manager",
      { type: HCM_TYPE, terminal: true, check: checkHttpConnectionManager },
    ],
    [
      "envoy.filters.network.tcp_proxy",
      { type: `${NETWORK}.tcp_proxy.v3.TcpProxy`, terminal: true, check: checkTcpProxy },
    ],
    ["envoy.filters.network.rbac", { type: `${NETWORK}.rbac.v3.RBAC`, terminal: false }],
  ]),
  terminals: "http_connection_manager or tcp_proxy",
};

const HTTP_FILTERS: FilterKind = {
  what: "an HTTP filter",
  known: new Map<string, KnownFilter>([
    ["envoy.filters.http.rbac", { type: `${HTTP}.rbac.v3.RBAC`, terminal: false }],
    ["envoy.filters.http.fault", { type: `${HTTP}.fault.v3.HTTPFault`, terminal: false }],
    ["envoy.filters.http.router", { type: `${HTTP}.router.v3.Router`, terminal: true }],
  ]),
  terminals: "envoy.filters.http.router",
};

export function checkListener(c: XdsCheck, listener: Rec): void {
  nonEmpty(c, listener.name, "name");
  const api = c.map(listener.api_listener, "api_listener");
  if (api) {
    // A proxyless gRPC client's listener: no socket, just the connection manager.
    const path = "api_listener.api_listener";
    const hcm = checkAny(c, api.api_listener, path, HCM_TYPE);
    if (hcm) checkHttpConnectionManager(c, hcm, path);
    return;
  }
  checkSocketAddress(c, listener.address, "address");

  const chains = c.maps(listener.filter_chains, "filter_chains");
  if (chains.length === 0 && listener.default_filter_chain === undefined) {
    c.add("filter_chains", "must have at least one filter chain, or a default_filter_chain");
  }
  const chainNames = new Map<string, string>();
  for (const [chain, path] of chains) {
    checkFilterChain(c, chain, path);
    if (typeof chain.name !== "string" || chain.name === "") continue;
    const first = chainNames.get(chain.name);
    if (first !== undefined) c.add(at(path, "name"), `${show(chain.name)} is also ${first}'s name`);
    else chainNames.set(chain.name, path);
  }
  const fallback = c.map(listener.default_filter_chain, "default_filter_chain");
  if (fallback) checkFilterChain(c, fallback, "default_filter_chain");
}

function checkFilterChain(c: XdsCheck, chain: Rec, path: string): void {
  const matchPath = at(path, "filter_chain_match");
  const match = c.map(chain.filter_chain_match, matchPath);
  const port = match && uint32(match.destination_port);
  if (port !== undefined) checkPortNumber(c, port, at(matchPath, "destination_port"));
  checkTransportSocket(
    c,
    chain.transport_socket,
    at(path, "transport_socket"),
    "DownstreamTlsContext",
  );

  const filtersPath = at(path, "filters");
  const filters = c.maps(chain.filters, filtersPath);
  if (filters.length === 0) c.add(filtersPath, "must have at least one filter");
  else checkFilters(c, filters, filtersPath, NETWORK_FILTERS);
}

/**
 * Each filter known, holding its config, and a terminal filter last. Envoy's network Filter
 * has no is_optional (only HttpFilter does), so an unknown network filter is always refused;
 * an unknown HTTP filter marked is_optional is skipped.
 */
function checkFilters(c: XdsCheck, filters: [Rec, string][], path: string, kind: FilterKind): void {
  const run: [KnownFilter, string][] = [];
  for (const [filter, fp] of filters) {
    const known = typeof filter.name === "string" ? kind.known.get(filter.name) : undefined;
    if (!known) {
      if (filter.is_optional === true) continue;
      const supported = [...kind.known.keys()].join(", ");
      const skip = kind === HTTP_FILTERS ? "; mark it is_optional for the sidecar to skip it" : "";
      c.add(
        at(fp, "name"),
        `${show(filter.name ?? "")} is not ${kind.what} the sidecar supports (${supported})${skip}`,
      );
      continue;
    }
    run.push([known, fp]);
    const config = checkAny(c, filter.typed_config, at(fp, "typed_config"), known.type);
    if (config) known.check?.(c, config, at(fp, "typed_config"));
  }
  run.forEach(([filter, fp], i) => {
    if (filter.terminal && i < run.length - 1) {
      c.add(fp, "is a terminal filter and must be the last of its chain: nothing after it runs");
    }
  });
  const last = run[run.length - 1]?.[0];
  if (last && !last.terminal) {
    c.add(path, `must end with ${kind.terminals}: nothing else forwards the request or connection`);
  }
}

function checkHttpConnectionManager(c: XdsCheck, hcm: Rec, path: string): void {
  const filtersPath = at(path, "http_filters");
  const filters = c.maps(hcm.http_filters, filtersPath);
  if (filters.length === 0) c.add(filtersPath, "must have at least one filter");
  else checkFilters(c, filters, filtersPath, HTTP_FILTERS);

  const which = exactlyOne(c, hcm, ["rds", "route_config"], path, ["scoped_routes"]);
  if (which === "route_config") {
    checkRouteConfiguration(c, hcm.route_config as Rec, at(path, "route_config"));
  }
  if (which !== "rds") return;
  const rdsPath = at(path, "rds");
  const rds = hcm.rds as Rec;
  const name = nonEmpty(c, rds.route_config_name, at(rdsPath, "route_config_name"));
  if (name !== undefined) c.rds.add(name);
  checkAdsSource(c, rds.config_source, at(rdsPath, "config_source"));
}

function checkTcpProxy(c: XdsCheck, proxy: Rec, path: string): void {
  // The one hash policy a TCP connection can have here: its source IP (as for routes, one
  // the sidecar cannot evaluate is refused rather than ignored).
  for (const [policy, pp] of c.maps(proxy.hash_policy, at(path, "hash_policy"))) {
    exactlyOne(c, policy, ["source_ip"], pp, ["filter_state"]);
  }
  const which = exactlyOne(c, proxy, ["cluster", "weighted_clusters"], path);
  if (which === "cluster") {
    const cluster = nonEmpty(c, proxy.cluster, at(path, "cluster"));
    if (cluster !== undefined) c.clusters.add(cluster);
  }
  if (which !== "weighted_clusters") return;
  const clustersPath = at(at(path, "weighted_clusters"), "clusters");
  const clusters = c.maps((proxy.weighted_clusters as Rec).clusters, clustersPath);
  if (clusters.length === 0) c.add(clustersPath, "must list at least one cluster");
  for (const [cluster, cp] of clusters) {
    const name = nonEmpty(c, cluster.name, at(cp, "name"));
    if (name !== undefined) c.clusters.add(name);
    // A plain uint32 here, not a wrapper; Envoy requires each weight to be at least 1.
    c.int(cluster.weight ?? 0, at(cp, "weight"), { min: 1 });
  }
}

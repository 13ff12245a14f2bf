// The sidecar's xDS resource decoder: every resource in the translator's golden snapshots
// decodes with no errors and with the references the ADS client subscribes by; invalid
// resources are refused with every error at its field path; a wrong type URL and bytes
// that do not decode are errors too, not exceptions.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { messageType, TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import { CertificateAuthority, generateKeyPair, privateKeyToPem } from "../../certs/index.js";
import { type DecodeResult, decodeResource } from "../../sidecar/xds/resources.js";

/**
 * An Any holding `message`. Not packAny: its verify step refuses enum names (which the
 * golden files hold, as a proxy decodes them) and two members of one oneof (which the
 * tables below need); fromObject takes both, and the first test proves nothing is lost.
 */
function encode(typeUrl: string, message: XdsMessage): { type_url: string; value: Uint8Array } {
  const type = messageType(typeUrl);
  return { type_url: typeUrl, value: type.encode(type.fromObject(message)).finish() };
}

const decode = (typeUrl: string, message: XdsMessage) =>
  decodeResource(typeUrl, encode(typeUrl, message));

function accepted(result: DecodeResult) {
  if (!result.ok) assert.fail(`refused ${result.name}: ${result.errors.join("; ")}`);
  return result.resource;
}

/** Exactly these errors, in order (a RegExp where the text comes from Node or protobufjs). */
function assertErrors(result: DecodeResult, expected: readonly (string | RegExp)[]): void {
  if (result.ok) assert.fail(`accepted ${result.resource.name}, expected ${expected.join("; ")}`);
  assert.equal(result.errors.length, expected.length, result.errors.join("\n"));
  expected.forEach((e, i) => {
    if (typeof e === "string") assert.equal(result.errors[i], e);
    else assert.match(result.errors[i] as string, e);
  });
}

// ---- the translator's output ----

const goldenDir = join(
  fileURLToPath(new URL("../../../", import.meta.url)),
  "test/control-plane/golden",
);
const golden = (file: string): Record<string, Record<string, XdsMessage>> =>
  JSON.parse(readFileSync(join(goldenDir, `${file}.json`), "utf8"));
// The fixture's trust bundle is a placeholder ("TEST-ROOT"): the translator copies whatever
// PEM the CA gives it, so the golden Secret is checked with a real CA's bundle in its place.
const PLACEHOLDER_ROOT = "-----BEGIN CERTIFICATE-----\nTEST-ROOT\n-----END CERTIFICATE-----\n";

let rootPem = "";
let keyPem = "";
before(async () => {
  rootPem = (await CertificateAuthority.create()).trustBundle().toPem();
  keyPem = privateKeyToPem((await generateKeyPair("ec-p256")).privateKey);
});

const withRealRoot = (secret: XdsMessage): XdsMessage =>
  JSON.parse(
    JSON.stringify(secret).replace(JSON.stringify(PLACEHOLDER_ROOT), JSON.stringify(rootPem)),
  );

function decodeGolden(file: string) {
  const out = new Map<string, ReturnType<typeof accepted>>();
  for (const [short, typeUrl] of Object.entries(TypeUrl)) {
    for (const [name, original] of Object.entries(golden(file)[short] ?? {})) {
      const message = short === "Secret" ? withRealRoot(original) : original;
      const resource = accepted(decode(typeUrl, message));
      assert.equal(resource.name, name);
      assert.equal(resource.typeUrl, typeUrl);
      // What the sidecar works on is what the golden file says a proxy decodes.
      assert.deepEqual(JSON.parse(JSON.stringify(resource.message)), message, `${short} ${name}`);
      out.set(`${short} ${name}`, resource);
    }
  }
  return out;
}

describe("decodeResource: what the translator emits", () => {
  for (const file of ["sidecar-backend", "sidecar-db", "proxyless"]) {
    it(`${file}: every resource decodes with no errors`, () => {
      assert.ok(decodeGolden(file).size >= 18);
    });
  }

  it("sidecar-backend: refs of the outbound cluster, both listeners, a route configuration", () => {
    const resources = decodeGolden("sidecar-backend");
    const refs = (key: string) => resources.get(key)?.refs;
    assert.deepEqual(refs("Cluster outbound|80||backend.shop.svc.cluster.local"), {
      eds: ["outbound|80||backend.shop.svc.cluster.local"],
      rds: [],
      clusters: [],
      // The workload certificate ("default") comes from the local SDS server, not over ADS.
      secrets: ["ROOTCA"],
    });
    assert.deepEqual(refs("Listener virtualOutbound"), {
      eds: [],
      rds: [
        "backend.shop.svc.cluster.local:80",
        "backend.shop.svc.cluster.local:9090",
        "backend-v2.shop.svc.cluster.local:80",
        "frontend.shop.svc.cluster.local:80",
      ],
      clusters: ["outbound|5432||db.data.svc.cluster.local", "PassthroughCluster"],
      secrets: [],
    });
    assert.deepEqual(refs("Listener virtualInbound"), {
      eds: [],
      rds: [],
      clusters: ["inbound|8080||", "inbound|9090||", "InboundPassthroughCluster"],
      secrets: ["ROOTCA"],
    });
    assert.deepEqual(refs("RouteConfiguration backend.shop.svc.cluster.local:80")?.clusters, [
      "outbound|80||backend.shop.svc.cluster.local",
      "InvalidBackendCluster",
      "outbound|80||backend-v2.shop.svc.cluster.local",
    ]);
    assert.deepEqual(refs("Cluster BlackHoleCluster"), {
      eds: [],
      rds: [],
      clusters: [],
      secrets: [],
    });
  });

  it("proxyless: an API listener needs its route configuration; clusters are plaintext", () => {
    const resources = decodeGolden("proxyless");
    const listener = resources.get("Listener backend.shop.svc.cluster.local:80");
    assert.deepEqual(listener?.refs.rds, ["backend.shop.svc.cluster.local:80"]);
    const cluster = resources.get("Cluster outbound|80||backend.shop.svc.cluster.local");
    assert.deepEqual(cluster?.refs.secrets, []);
  });

  it("refuses the fixture's placeholder root, which is not PEM", () => {
    const secret = golden("sidecar-backend").Secret?.ROOTCA as XdsMessage;
    const result = decode(TypeUrl.Secret, secret);
    assertErrors(result, [
      "validation_context.trusted_ca.inline_string: is not PEM: bad base64 in a CERTIFICATE block",
    ]);
    assert.equal(result.ok ? "" : result.name, "ROOTCA");
  });
});

// ---- building blocks for the tables ----

const URL_OF = (fullName: string) => `type.googleapis.com/${fullName}`;
const NETWORK = "envoy.extensions.filters.network";
const HCM_TYPE = URL_OF(`${NETWORK}.http_connection_manager.v3.HttpConnectionManager`);
const TCP_PROXY_TYPE = URL_OF(`${NETWORK}.tcp_proxy.v3.TcpProxy`);
const TLS = "envoy.extensions.transport_sockets.tls.v3";

const tcpProxy = (config: XdsMessage = { cluster: "db" }): XdsMessage => ({
  name: "envoy.filters.network.tcp_proxy",
  typed_config: { "@type": TCP_PROXY_TYPE, stat_prefix: "db", ...config },
});
const ROUTER = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
};
const hcm = (config: XdsMessage): XdsMessage => ({
  name: "envoy.filters.network.http_connection_manager",
  typed_config: { "@type": HCM_TYPE, stat_prefix: "web", http_filters: [ROUTER], ...config },
});
const rds = (name: string, source: XdsMessage = { ads: {} }): XdsMessage => ({
  rds: { route_config_name: name, config_source: source },
});
const listener = (extra: XdsMessage = {}, filters: XdsMessage[] = [tcpProxy()]): XdsMessage => ({
  name: "virtualOutbound",
  address: { socket_address: { address: "0.0.0.0", port_value: 15001 } },
  filter_chains: [{ name: "db", filters }],
  ...extra,
});
const tlsSocket = (context: string, sds = "ROOTCA"): XdsMessage => ({
  name: "envoy.transport_sockets.tls",
  typed_config: {
    "@type": URL_OF(`${TLS}.${context}`),
    common_tls_context: {
      validation_context_sds_secret_config: { name: sds, sds_config: { ads: {} } },
    },
  },
});

const route = (extra: XdsMessage = {}): XdsMessage => ({
  match: { prefix: "/" },
  route: { cluster: "web" },
  ...extra,
});
const routeConfig = (routes: XdsMessage[], extra: XdsMessage = {}): XdsMessage => ({
  name: "web:80",
  virtual_hosts: [{ name: "web", domains: ["*"], routes }],
  ...extra,
});

const socketAddress = (address: string, port_value: number) => ({
  address: { socket_address: { address, port_value } },
});
const assignment = (lbEndpoints: XdsMessage[], locality: XdsMessage = {}): XdsMessage => ({
  cluster_name: "outbound|80||web",
  endpoints: [{ lb_endpoints: lbEndpoints, ...locality }],
});
const endpoint = (address = "10.0.0.1", port = 8080): XdsMessage => ({
  endpoint: socketAddress(address, port),
});
const edsCluster = (extra: XdsMessage = {}): XdsMessage => ({
  name: "outbound|80||web",
  type: "EDS",
  eds_cluster_config: { eds_config: { ads: {} }, service_name: "outbound|80||web" },
  connect_timeout: { seconds: 1 },
  lb_policy: "ROUND_ROBIN",
  ...extra,
});

const rootSecret = (trusted_ca: XdsMessage): XdsMessage => ({
  name: "ROOTCA",
  validation_context: { trusted_ca },
});

interface Case {
  readonly name: string;
  readonly typeUrl: string;
  readonly message: () => XdsMessage;
  readonly errors: readonly (string | RegExp)[];
}

const L = TypeUrl.Listener;
const R = TypeUrl.RouteConfiguration;
const C = TypeUrl.Cluster;
const E = TypeUrl.ClusterLoadAssignment;
const S = TypeUrl.Secret;
const chain0 = "filter_chains[0]";
const filter0 = `${chain0}.filters[0]`;
const config0 = `${filter0}.typed_config`;
const route0 = "virtual_hosts[0].routes[0]";
const lbEndpoint0 = "endpoints[0].lb_endpoints[0]";

describe("decodeResource: the tables' valid resources", () => {
  const valid: [string, string, () => XdsMessage][] = [
    ["a listener", L, () => listener()],
    ["a route configuration", R, () => routeConfig([route()])],
    ["a cluster", C, () => edsCluster()],
    ["an assignment", E, () => assignment([endpoint()])],
    ["a secret", S, () => rootSecret({ inline_string: rootPem })],
  ];
  for (const [name, typeUrl, message] of valid) {
    it(`accepts ${name} (so each case below fails for its one change)`, () => {
      accepted(decode(typeUrl, message()));
    });
  }

  it("accepts an API listener without an address", () => {
    const api = { api_listener: { api_listener: hcm(rds("web:80")).typed_config } };
    assert.deepEqual(accepted(decode(L, { name: "web:80", ...api })).refs.rds, ["web:80"]);
  });

  it("accepts an unknown HTTP filter marked is_optional, and skips it", () => {
    const optional = { name: "envoy.filters.http.lua", is_optional: true };
    accepted(
      decode(L, listener({}, [hcm({ ...rds("web:80"), http_filters: [optional, ROUTER] })])),
    );
  });

  it("names the EDS service after the cluster when service_name is empty", () => {
    const cluster = edsCluster({ eds_cluster_config: { eds_config: { ads: {} } } });
    assert.deepEqual(accepted(decode(C, cluster)).refs.eds, ["outbound|80||web"]);
  });

  it("lists each referenced cluster once, tcp_proxy's weighted clusters included", () => {
    const split = {
      weighted_clusters: {
        clusters: [
          { name: "a", weight: 1 },
          { name: "b", weight: 3 },
        ],
      },
    };
    const l = listener({}, [tcpProxy(split)]);
    assert.deepEqual(accepted(decode(L, l)).refs.clusters, ["a", "b"]);
    const rc = routeConfig([route(), route({ match: { path: "/x" } })]);
    assert.deepEqual(accepted(decode(R, rc)).refs.clusters, ["web"]);
  });

  it("accepts the hash policies of ring hash and a cluster's circuit breakers", () => {
    const hashing = [
      { header: { header_name: "x-user" } },
      { connection_properties: { source_ip: true } },
    ];
    accepted(decode(R, routeConfig([route({ route: { cluster: "web", hash_policy: hashing } })])));
    accepted(
      decode(L, listener({}, [tcpProxy({ cluster: "db", hash_policy: [{ source_ip: {} }] })])),
    );
    const thresholds = [
      { priority: "DEFAULT", max_connections: { value: 1 }, max_pending_requests: { value: 1 } },
    ];
    const cluster = accepted(
      decode(C, edsCluster({ lb_policy: "RING_HASH", circuit_breakers: { thresholds } })),
    );
    assert.deepEqual((cluster.message.circuit_breakers as XdsMessage).thresholds, thresholds);
  });

  it("accepts a STRICT_DNS cluster whose endpoints are hostnames", () => {
    const cluster = {
      name: "external",
      type: "STRICT_DNS",
      load_assignment: {
        cluster_name: "external",
        endpoints: [{ lb_endpoints: [endpoint("api.example.com", 443)] }],
      },
    };
    accepted(decode(C, cluster));
  });

  it("accepts a validation context in inline_bytes, and a workload certificate with its key", () => {
    accepted(decode(S, rootSecret({ inline_bytes: Buffer.from(rootPem) })));
    const tls = {
      certificate_chain: { inline_string: rootPem },
      private_key: { inline_string: keyPem },
    };
    accepted(decode(S, { name: "default", tls_certificate: tls }));
  });
});

const SUPPORTED_FILTERS =
  "envoy.filters.network.http_connection_manager, envoy.filters.network.tcp_proxy, envoy.filters.network.rbac";

const cases: Case[] = [
  // Listener
  {
    name: "a listener without an address",
    typeUrl: L,
    message: () => listener({ address: undefined }),
    errors: ["address: is required"],
  },
  {
    name: "a listener on a hostname and port 0",
    typeUrl: L,
    message: () => listener(socketAddress("localhost", 0)),
    errors: [
      'address.socket_address.address: must be an IP address, got "localhost"',
      "address.socket_address.port_value: must be a port number from 1 to 65535, got 0",
    ],
  },
  {
    name: "an API listener that holds no HTTP connection manager",
    typeUrl: L,
    message: () => ({ name: "web:80", api_listener: { api_listener: tcpProxy().typed_config } }),
    errors: [
      `api_listener.api_listener: must hold ${NETWORK}.http_connection_manager.v3.HttpConnectionManager, got ${JSON.stringify(TCP_PROXY_TYPE)}`,
    ],
  },
  {
    name: "a listener with no filter chain",
    typeUrl: L,
    message: () => listener({ filter_chains: [] }),
    errors: ["filter_chains: must have at least one filter chain, or a default_filter_chain"],
  },
  {
    name: "a filter chain with no filters",
    typeUrl: L,
    message: () => listener({}, []),
    errors: [`${chain0}.filters: must have at least one filter`],
  },
  {
    name: "an unknown network filter",
    typeUrl: L,
    message: () => listener({}, [{ name: "envoy.filters.network.redis_proxy" }, tcpProxy()]),
    errors: [
      `${filter0}.name: "envoy.filters.network.redis_proxy" is not a network filter the sidecar supports (${SUPPORTED_FILTERS})`,
    ],
  },
  {
    name: "a filter whose typed_config is another filter's",
    typeUrl: L,
    message: () => listener({}, [{ ...tcpProxy(), typed_config: hcm(rds("web:80")).typed_config }]),
    errors: [
      `${config0}: must hold ${NETWORK}.tcp_proxy.v3.TcpProxy, got ${JSON.stringify(HCM_TYPE)}`,
    ],
  },
  {
    name: "a terminal filter before another filter",
    typeUrl: L,
    message: () =>
      listener({}, [
        tcpProxy(),
        {
          ...tcpProxy(),
          name: "envoy.filters.network.rbac",
          typed_config: { "@type": URL_OF(`${NETWORK}.rbac.v3.RBAC`) },
        },
      ]),
    errors: [
      `${filter0}: is a terminal filter and must be the last of its chain: nothing after it runs`,
      `${chain0}.filters: must end with http_connection_manager or tcp_proxy: nothing else forwards the request or connection`,
    ],
  },
  {
    name: "an unknown HTTP filter, and the router before another filter",
    typeUrl: L,
    message: () =>
      listener({}, [
        hcm({
          ...rds("web:80"),
          http_filters: [
            { name: "envoy.filters.http.lua" },
            ROUTER,
            {
              ...ROUTER,
              name: "envoy.filters.http.rbac",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
              },
            },
          ],
        }),
      ]),
    errors: [
      `${config0}.http_filters[0].name: "envoy.filters.http.lua" is not an HTTP filter the sidecar supports (envoy.filters.http.rbac, envoy.filters.http.fault, envoy.filters.http.router); mark it is_optional for the sidecar to skip it`,
      `${config0}.http_filters[1]: is a terminal filter and must be the last of its chain: nothing after it runs`,
      `${config0}.http_filters: must end with envoy.filters.http.router: nothing else forwards the request or connection`,
    ],
  },
  {
    name: "an HTTP connection manager with neither rds nor route_config",
    typeUrl: L,
    message: () => listener({}, [hcm({})]),
    errors: [`${config0}: must set exactly one of rds, route_config; has none`],
  },
  {
    name: "an HTTP connection manager with both rds and route_config",
    typeUrl: L,
    message: () => listener({}, [hcm({ ...rds("web:80"), route_config: routeConfig([route()]) })]),
    errors: [`${config0}: must set exactly one of rds, route_config; has rds and route_config`],
  },
  {
    name: "rds without a route configuration name, from a non-ADS source",
    typeUrl: L,
    message: () => listener({}, [hcm(rds("", { api_config_source: { api_type: "GRPC" } }))]),
    errors: [
      `${config0}.rds.route_config_name: must not be empty`,
      `${config0}.rds.config_source: must be ads (or self): the sidecar fetches every resource over its ADS stream`,
    ],
  },
  {
    name: "an inline route configuration, validated like an RDS one",
    typeUrl: L,
    message: () => listener({}, [hcm({ route_config: routeConfig([{ match: { prefix: "/" } }]) })]),
    errors: [
      `${config0}.route_config.${route0}: must set exactly one of route, redirect, direct_response; has none`,
    ],
  },
  {
    name: "tcp_proxy with no cluster, and with an empty weighted_clusters",
    typeUrl: L,
    message: () => ({
      ...listener(),
      filter_chains: [
        { name: "a", filters: [tcpProxy({ cluster: undefined })] },
        { name: "b", filters: [tcpProxy({ cluster: undefined, weighted_clusters: {} })] },
      ],
    }),
    errors: [
      `${config0}: must set exactly one of cluster, weighted_clusters; has none`,
      "filter_chains[1].filters[0].typed_config.weighted_clusters.clusters: must list at least one cluster",
    ],
  },
  {
    name: "a filter chain matching destination port 0 or 65536",
    typeUrl: L,
    message: () => ({
      ...listener(),
      filter_chains: [
        {
          name: "a",
          filter_chain_match: { destination_port: { value: 0 } },
          filters: [tcpProxy()],
        },
        {
          name: "b",
          filter_chain_match: { destination_port: { value: 65536 } },
          filters: [tcpProxy()],
        },
      ],
    }),
    errors: [
      `${chain0}.filter_chain_match.destination_port: must be a port number from 1 to 65535, got 0`,
      "filter_chains[1].filter_chain_match.destination_port: must be a port number from 1 to 65535, got 65536",
    ],
  },
  {
    name: "two filter chains with one name",
    typeUrl: L,
    message: () => ({
      ...listener(),
      filter_chains: [
        { name: "db", filters: [tcpProxy()] },
        { name: "db", filters: [tcpProxy()] },
      ],
    }),
    errors: [`filter_chains[1].name: "db" is also filter_chains[0]'s name`],
  },
  {
    name: "a downstream TLS socket holding an upstream context",
    typeUrl: L,
    message: () => ({
      ...listener(),
      filter_chains: [{ filters: [tcpProxy()], transport_socket: tlsSocket("UpstreamTlsContext") }],
    }),
    errors: [
      `${chain0}.transport_socket.typed_config: must hold ${TLS}.DownstreamTlsContext, got "${URL_OF(`${TLS}.UpstreamTlsContext`)}"`,
    ],
  },
  // RouteConfiguration
  {
    name: "a virtual host without a name or domains",
    typeUrl: R,
    message: () => ({ name: "web:80", virtual_hosts: [{ routes: [route()] }] }),
    errors: [
      "virtual_hosts[0].name: must not be empty",
      "virtual_hosts[0].domains: must list at least one domain",
    ],
  },
  {
    name: "one domain in two virtual hosts",
    typeUrl: R,
    message: () => ({
      name: "web:80",
      virtual_hosts: [
        { name: "a", domains: ["web", "*"], routes: [route()] },
        { name: "b", domains: ["WEB"], routes: [route()] },
      ],
    }),
    errors: [
      'virtual_hosts[1].domains[0]: "WEB" is also a domain of virtual_hosts[0]: a request could match either',
    ],
  },
  {
    name: "a route matching nothing, and one matching a prefix and a path",
    typeUrl: R,
    message: () =>
      routeConfig([route({ match: {} }), route({ match: { prefix: "/", path: "/x" } })]),
    errors: [
      `${route0}.match: must set exactly one of prefix, path, safe_regex, path_separated_prefix; has none`,
      "virtual_hosts[0].routes[1].match: must set exactly one of prefix, path, safe_regex, path_separated_prefix; has prefix and path",
    ],
  },
  {
    name: "a safe_regex (in the path and in a header) that does not compile",
    typeUrl: R,
    message: () =>
      routeConfig([
        route({
          match: {
            safe_regex: { regex: "/v[0-9" },
            headers: [{ name: "x-v", string_match: { safe_regex: { regex: "(a" } } }],
          },
        }),
      ]),
    errors: [
      `${route0}.match.safe_regex.regex: does not compile: Invalid regular expression: //v[0-9/: Unterminated character class`,
      `${route0}.match.headers[0].string_match.safe_regex.regex: does not compile: Invalid regular expression: /(a/: Unterminated group`,
    ],
  },
  {
    name: "a route with two actions",
    typeUrl: R,
    message: () => routeConfig([route({ direct_response: { status: 404 } })]),
    errors: [
      `${route0}: must set exactly one of route, redirect, direct_response; has route and direct_response`,
    ],
  },
  {
    name: "a direct response with a status that is not one",
    typeUrl: R,
    message: () => routeConfig([{ match: { prefix: "/" }, direct_response: { status: 42 } }]),
    errors: [`${route0}.direct_response.status: must be from 200 to 599, got 42`],
  },
  {
    name: "a route action with both a cluster and a cluster_header",
    typeUrl: R,
    message: () => routeConfig([route({ route: { cluster: "web", cluster_header: "x-cluster" } })]),
    errors: [
      `${route0}.route: must set exactly one of cluster, weighted_clusters, cluster_header; has cluster and cluster_header`,
    ],
  },
  {
    name: "weighted clusters that all weigh zero",
    typeUrl: R,
    message: () =>
      routeConfig([
        route({
          route: {
            weighted_clusters: { clusters: [{ name: "a", weight: { value: 0 } }, { name: "b" }] },
          },
        }),
      ]),
    errors: [
      `${route0}.route.weighted_clusters.clusters: weights must not all be zero: no cluster could be picked`,
    ],
  },
  {
    name: "a retry policy past the bound, with negative timeouts",
    typeUrl: R,
    message: () =>
      routeConfig([
        route({
          route: {
            cluster: "web",
            timeout: { seconds: -5 },
            retry_policy: {
              num_retries: { value: 11 },
              per_try_timeout: { seconds: 0, nanos: -1000000 },
            },
          },
        }),
      ]),
    errors: [
      `${route0}.route.timeout: must not be negative, got -5s`,
      `${route0}.route.retry_policy.num_retries: must be at most 10, got 11: a bound against retry storms, where each retry adds load to an upstream that is already failing`,
      `${route0}.route.retry_policy.per_try_timeout: must not be negative, got -0.001s`,
    ],
  },
  {
    name: "hash policies the sidecar cannot evaluate: a cookie, a header without a name or rewritten",
    typeUrl: R,
    message: () =>
      routeConfig([
        route({
          route: {
            cluster: "web",
            hash_policy: [
              { cookie: { name: "session" } },
              { header: {} },
              {
                header: {
                  header_name: "x-user",
                  regex_rewrite: { pattern: { regex: "^(.*)$" }, substitution: "\\1" },
                },
              },
            ],
          },
        }),
      ]),
    errors: [
      `${route0}.route.hash_policy[0]: must set exactly one of header, connection_properties; has cookie, which the sidecar does not support`,
      `${route0}.route.hash_policy[1].header.header_name: must not be empty`,
      `${route0}.route.hash_policy[2].header.regex_rewrite: is not supported by the sidecar: it hashes the header's value as it comes`,
    ],
  },
  {
    name: "a tcp_proxy hashing on filter state",
    typeUrl: L,
    message: () =>
      listener({}, [tcpProxy({ cluster: "db", hash_policy: [{ filter_state: { key: "k" } }] })]),
    errors: [
      `${config0}.hash_policy[0]: must set exactly one of source_ip; has filter_state, which the sidecar does not support`,
    ],
  },
  // Cluster
  {
    name: "a cluster type and a load balancing policy the sidecar does not implement",
    typeUrl: C,
    message: () => edsCluster({ type: 9, lb_policy: "MAGLEV" }),
    errors: [
      "type: 9 is not a cluster type the sidecar supports (EDS, STATIC, STRICT_DNS, LOGICAL_DNS, ORIGINAL_DST)",
      'lb_policy: "MAGLEV" is not a load balancing policy the sidecar supports (ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM, CLUSTER_PROVIDED)',
    ],
  },
  {
    name: "an ORIGINAL_DST cluster balanced round robin",
    typeUrl: C,
    message: () => ({ name: "PassthroughCluster", type: "ORIGINAL_DST", lb_policy: "ROUND_ROBIN" }),
    errors: [
      "lb_policy: must be CLUSTER_PROVIDED for an ORIGINAL_DST cluster: its one upstream is the connection's original destination",
    ],
  },
  {
    name: "an EDS cluster without eds_cluster_config, with a zero connect_timeout",
    typeUrl: C,
    message: () => edsCluster({ eds_cluster_config: undefined, connect_timeout: { seconds: 0 } }),
    errors: ["connect_timeout: must be positive, got 0s", "eds_cluster_config: is required"],
  },
  {
    name: "a STATIC cluster with a hostname endpoint",
    typeUrl: C,
    message: () => ({
      name: "inbound|8080||",
      type: "STATIC",
      load_assignment: {
        cluster_name: "inbound|8080||",
        endpoints: [{ lb_endpoints: [endpoint("localhost")] }],
      },
    }),
    errors: [
      `load_assignment.${lbEndpoint0}.endpoint.address.socket_address.address: must be an IP address, got "localhost"`,
    ],
  },
  {
    name: "a STATIC cluster with an empty load_assignment",
    typeUrl: C,
    message: () => ({
      name: "inbound|8080||",
      type: "STATIC",
      load_assignment: { cluster_name: "inbound|8080||" },
    }),
    errors: ["load_assignment.endpoints: must have at least one endpoint"],
  },
  {
    name: "a TLS transport socket that is not an UpstreamTlsContext, and an unknown one",
    typeUrl: C,
    message: () =>
      edsCluster({
        transport_socket: tlsSocket("DownstreamTlsContext"),
        transport_socket_matches: [
          { name: "alts", transport_socket: { name: "envoy.transport_sockets.alts" } },
        ],
      }),
    errors: [
      `transport_socket.typed_config: must hold ${TLS}.UpstreamTlsContext, got "${URL_OF(`${TLS}.DownstreamTlsContext`)}"`,
      'transport_socket_matches[0].transport_socket.name: "envoy.transport_sockets.alts" is not a transport socket the sidecar supports (envoy.transport_sockets.tls, envoy.transport_sockets.raw_buffer)',
    ],
  },
  {
    name: "an EDS cluster balanced by CLUSTER_PROVIDED, its endpoints from a non-ADS source",
    typeUrl: C,
    message: () =>
      edsCluster({
        lb_policy: "CLUSTER_PROVIDED",
        eds_cluster_config: { eds_config: { path_config_source: { path: "/etc/eds.yaml" } } },
      }),
    errors: [
      "lb_policy: CLUSTER_PROVIDED is only for ORIGINAL_DST clusters, and this one is EDS",
      "eds_cluster_config.eds_config: must be ads (or self): the sidecar fetches every resource over its ADS stream",
    ],
  },
  {
    name: "a custom cluster type",
    typeUrl: C,
    message: () => ({ name: "agg", cluster_type: { name: "envoy.clusters.aggregate" } }),
    errors: ["cluster_type: custom cluster types are not supported by the sidecar: set type"],
  },
  {
    name: "a LOGICAL_DNS cluster with two endpoints",
    typeUrl: C,
    message: () => ({
      name: "external",
      type: "LOGICAL_DNS",
      load_assignment: {
        cluster_name: "external",
        endpoints: [{ lb_endpoints: [endpoint("a.example.com"), endpoint("b.example.com")] }],
      },
    }),
    errors: ["load_assignment.endpoints: must have exactly one endpoint for LOGICAL_DNS, has 2"],
  },
  {
    name: "a DNS cluster without a load_assignment",
    typeUrl: C,
    message: () => ({ name: "external", type: "STRICT_DNS" }),
    errors: ["load_assignment: is required"],
  },
  {
    name: "an SDS secret config without a name",
    typeUrl: C,
    message: () => edsCluster({ transport_socket: tlsSocket("UpstreamTlsContext", "") }),
    errors: [
      "transport_socket.typed_config.common_tls_context.validation_context_sds_secret_config.name: must not be empty",
    ],
  },
  // ClusterLoadAssignment
  {
    name: "endpoints with a hostname, port 0, no address, weight 0",
    typeUrl: E,
    message: () =>
      assignment([
        endpoint("web.local", 0),
        { health_status: "HEALTHY" },
        { ...endpoint(), load_balancing_weight: { value: 0 } },
      ]),
    errors: [
      `${lbEndpoint0}.endpoint.address.socket_address.address: must be an IP address, got "web.local"`,
      `${lbEndpoint0}.endpoint.address.socket_address.port_value: must be a port number from 1 to 65535, got 0`,
      "endpoints[0].lb_endpoints[1].endpoint: is required",
      "endpoints[0].lb_endpoints[2].load_balancing_weight: must be at least 1 when set, got 0 (leave it out for the default)",
    ],
  },
  {
    name: "an assignment without a cluster_name, with a gap in its priorities",
    typeUrl: E,
    message: () => ({
      endpoints: [
        { lb_endpoints: [endpoint()] },
        { lb_endpoints: [endpoint("10.0.0.2")], priority: 2 },
      ],
    }),
    errors: [
      "cluster_name: must not be empty",
      "endpoints: priorities must run from 0 without gaps, but 1 is missing",
    ],
  },
  // Secret
  {
    name: "a secret that is neither a certificate nor a validation context",
    typeUrl: S,
    message: () => ({ name: "token", generic_secret: { secret: { inline_string: "x" } } }),
    errors: [
      "must set exactly one of tls_certificate, validation_context; has generic_secret, which the sidecar does not support",
    ],
  },
  {
    name: "a secret that is both",
    typeUrl: S,
    message: () => ({ ...rootSecret({ inline_string: rootPem }), tls_certificate: {} }),
    errors: [
      "must set exactly one of tls_certificate, validation_context; has tls_certificate and validation_context",
    ],
  },
  {
    name: "a validation context without trusted roots",
    typeUrl: S,
    message: () => ({ name: "ROOTCA", validation_context: { match_typed_subject_alt_names: [] } }),
    errors: ["validation_context.trusted_ca: is required"],
  },
  {
    name: "trusted roots in a file",
    typeUrl: S,
    message: () => rootSecret({ filename: "/etc/certs/root.pem" }),
    errors: [
      "validation_context.trusted_ca: must be inline_bytes or inline_string: the sidecar reads no files the control plane names",
    ],
  },
  {
    name: "trusted roots with no PEM block",
    typeUrl: S,
    message: () => rootSecret({ inline_string: "not PEM" }),
    errors: ["validation_context.trusted_ca.inline_string: has no PEM CERTIFICATE block"],
  },
  {
    name: "trusted roots whose second certificate does not parse",
    typeUrl: S,
    message: () =>
      rootSecret({
        inline_bytes: Buffer.from(
          `${rootPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`,
        ),
      }),
    errors: [/^validation_context\.trusted_ca\.inline_bytes: certificate 2 of 2 does not parse: ./],
  },
  {
    name: "a workload certificate whose key is not a key",
    typeUrl: S,
    message: () => ({
      name: "default",
      tls_certificate: {
        certificate_chain: { inline_string: rootPem },
        private_key: { inline_string: rootPem },
      },
    }),
    errors: [/^tls_certificate\.private_key\.inline_string: is not a PEM private key: ./],
  },
];

describe("decodeResource: invalid resources", () => {
  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      assertErrors(decode(c.typeUrl, c.message()), c.errors);
    });
  }

  it("reports every error of a resource, not just the first, and names it", () => {
    const message = {
      name: "virtualInbound",
      address: { socket_address: { address: "0.0.0.0", port_value: 70000 } },
      filter_chains: [
        { name: "a", filters: [{ name: "envoy.filters.network.mongo_proxy" }, hcm(rds(""))] },
        { name: "a", filters: [] },
      ],
    };
    const result = decode(L, message);
    assertErrors(result, [
      "address.socket_address.port_value: must be a port number from 1 to 65535, got 70000",
      `${filter0}.name: "envoy.filters.network.mongo_proxy" is not a network filter the sidecar supports (${SUPPORTED_FILTERS})`,
      "filter_chains[0].filters[1].typed_config.rds.route_config_name: must not be empty",
      "filter_chains[1].filters: must have at least one filter",
      `filter_chains[1].name: "a" is also filter_chains[0]'s name`,
    ]);
    assert.equal(result.ok ? "" : result.name, "virtualInbound");
  });

  it("refuses a resource whose type_url is not the one asked for, without a name", () => {
    const result = decodeResource(C, encode(L, listener()));
    assertErrors(result, [`type_url: must be ${C}, got "${L}"`]);
    assert.equal(result.ok ? "x" : result.name, "");
  });

  it("refuses a type the sidecar does not use", () => {
    const typeUrl = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
    assertErrors(decodeResource(typeUrl, { type_url: typeUrl, value: new Uint8Array() }), [
      `"${typeUrl}" is not a resource type the sidecar uses`,
    ]);
  });

  it("refuses bytes that do not decode, at the top and inside a nested Any", () => {
    const garbage = decodeResource(L, { type_url: L, value: Uint8Array.of(0x07) });
    assertErrors(garbage, [/^does not decode: invalid wire type 7/]);
    assert.equal(garbage.ok ? "x" : garbage.name, "");
    const nested = listener({}, [
      {
        name: "envoy.filters.network.tcp_proxy",
        typed_config: { type_url: TCP_PROXY_TYPE, value: Buffer.of(0x07) },
      },
    ]);
    assertErrors(decode(L, nested), [/^does not decode: invalid wire type 7/]);
  });
});

// Table tests of the translator's security decisions: PeerAuthentication precedence,
// AuthorizationPolicy matchers and their TCP semantics, and the proto enum numbers used.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PeerAuthentication } from "../../api/types.js";
import { messageType, xdsRoot } from "../../api/xds-proto.js";
import {
  namespaceMatcher,
  principalMatcher,
  rbacRules,
} from "../../control-plane/translator/authz.js";
import { effectiveMtls, modeForPort } from "../../control-plane/translator/peer-authn.js";
import { Enum } from "../../control-plane/translator/proto.js";
import { authorizationPolicy, peerAuthentication } from "./translator-fixture.js";

describe("PeerAuthentication precedence", () => {
  const mesh = (mode: string, ts?: string) =>
    peerAuthentication("trellis-system", `mesh-${mode}`, { mtls: { mode: mode as never } }, ts);
  const ns = (mode: string, ts?: string) =>
    peerAuthentication("app", `ns-${mode}`, { mtls: { mode: mode as never } }, ts);
  const wl = (
    mode: string,
    ports: Record<string, string> = {},
    labels = { app: "web" },
    ts?: string,
  ) =>
    peerAuthentication(
      "app",
      `wl-${mode}-${JSON.stringify(labels)}`,
      {
        selector: { matchLabels: labels },
        mtls: { mode: mode as never },
        portLevelMtls: Object.fromEntries(
          Object.entries(ports).map(([p, m]) => [p, { mode: m as never }]),
        ),
      },
      ts,
    );
  const cases: [string, PeerAuthentication[], string, Record<number, string>][] = [
    ["nothing → PERMISSIVE", [], "PERMISSIVE", {}],
    ["mesh STRICT", [mesh("STRICT")], "STRICT", {}],
    ["namespace beats mesh", [mesh("STRICT"), ns("DISABLE")], "DISABLE", {}],
    ["workload beats namespace", [ns("STRICT"), wl("PERMISSIVE")], "PERMISSIVE", {}],
    [
      "UNSET workload inherits namespace",
      [mesh("DISABLE"), ns("STRICT"), wl("UNSET")],
      "STRICT",
      {},
    ],
    ["UNSET namespace inherits mesh", [mesh("STRICT"), ns("UNSET")], "STRICT", {}],
    [
      "a workload policy for other labels does not apply",
      [ns("STRICT"), wl("DISABLE", {}, { app: "db" })],
      "STRICT",
      {},
    ],
    [
      "port level overrides; UNSET port inherits the workload",
      [ns("DISABLE"), wl("STRICT", { "8080": "PERMISSIVE", "9090": "UNSET" })],
      "STRICT",
      { 8080: "PERMISSIVE", 9090: "STRICT" },
    ],
    [
      "the oldest namespace policy wins",
      [
        peerAuthentication("app", "b", { mtls: { mode: "STRICT" } }, "2024-02-01T00:00:00Z"),
        peerAuthentication("app", "a", { mtls: { mode: "DISABLE" } }, "2024-01-01T00:00:00Z"),
      ],
      "DISABLE",
      {},
    ],
  ];
  for (const [name, pas, mode, ports] of cases) {
    it(name, () => {
      const byNs = new Map<string, PeerAuthentication[]>();
      for (const pa of pas)
        byNs.set(pa.metadata.namespace ?? "", [
          ...(byNs.get(pa.metadata.namespace ?? "") ?? []),
          pa,
        ]);
      const m = effectiveMtls(byNs, "app", { app: "web" });
      assert.equal(m.mode, mode);
      for (const [port, want] of Object.entries(ports))
        assert.equal(modeForPort(m, Number(port)), want);
      assert.equal(modeForPort(m, 1), mode);
    });
  }
});

describe("authorization matchers", () => {
  const principals: [string, unknown][] = [
    ["cluster.local/ns/shop/sa/web", { exact: "spiffe://cluster.local/ns/shop/sa/web" }],
    ["*", { safe_regex: { regex: ".+" } }],
    ["cluster.local/ns/shop/*", { prefix: "spiffe://cluster.local/ns/shop/" }],
    ["*/sa/web", { safe_regex: { regex: "spiffe://.*/sa/web" } }],
    ["*.example/sa/w", { safe_regex: { regex: "spiffe://.*\\.example/sa/w" } }],
  ];
  for (const [value, want] of principals) {
    it(`principal ${value}`, () => assert.deepEqual(principalMatcher(value), want));
  }
  it("namespaces → a regex on the SPIFFE ID", () => {
    assert.deepEqual(namespaceMatcher("shop"), {
      safe_regex: { regex: "spiffe://[^/]+/ns/shop/sa/[^/]+" },
    });
    assert.deepEqual(namespaceMatcher("team-*"), {
      safe_regex: { regex: "spiffe://[^/]+/ns/team-[^/]*/sa/[^/]+" },
    });
  });

  const http = { methods: ["GET"], paths: ["/x"] };
  const policy = (action: "ALLOW" | "DENY", rules: unknown[]) =>
    authorizationPolicy("ns", "p", { action, rules: rules as never });
  const policiesOf = (rbac: Record<string, unknown>) =>
    rbac.policies as Record<string, { permissions: unknown[]; principals: unknown[] }>;
  it("ALLOW with HTTP-only fields on TCP: that rule never matches (the policy still denies)", () => {
    const rules = rbacRules([policy("ALLOW", [{ to: [{ operation: http }] }])], "ALLOW", true);
    assert.deepEqual(Object.keys(policiesOf(rules)), ["ns.ns.p"]);
    assert.deepEqual(policiesOf(rules)["ns.ns.p"]?.permissions, [{ not_rule: { any: true } }]);
  });
  it("DENY with HTTP-only fields on TCP: the HTTP conditions are dropped (denies more)", () => {
    const rules = rbacRules(
      [
        policy("DENY", [
          {
            from: [{ source: { namespaces: ["x"] } }],
            to: [{ operation: { ...http, ports: ["80"] } }],
          },
        ]),
      ],
      "DENY",
      true,
    );
    assert.deepEqual(policiesOf(rules)["ns.ns.p.rule0"]?.permissions, [{ destination_port: 80 }]);
  });
  it("the same rules on HTTP keep every condition", () => {
    const rules = rbacRules([policy("ALLOW", [{ to: [{ operation: http }] }])], "ALLOW", false);
    assert.deepEqual(policiesOf(rules)["ns.ns.p.rule0"]?.permissions, [
      {
        and_rules: {
          rules: [
            { header: { name: ":method", string_match: { exact: "GET" } } },
            { url_path: { path: { exact: "/x" } } },
          ],
        },
      },
    ]);
  });
  it("an unsupported `when` key: ALLOW rule never matches, DENY ignores the condition", () => {
    const when = [{ key: "request.auth.claims[iss]", values: ["x"] }];
    assert.deepEqual(
      Object.keys(policiesOf(rbacRules([policy("ALLOW", [{ when }])], "ALLOW", false))),
      ["ns.ns.p"],
    );
    assert.deepEqual(
      policiesOf(rbacRules([policy("DENY", [{ when }])], "DENY", false))["ns.ns.p.rule0"],
      {
        permissions: [{ any: true }],
        principals: [{ any: true }],
      },
    );
  });
  it("a bad port or CIDR: ALLOW rule never matches; DENY keeps the good values", () => {
    const from = [{ source: { ipBlocks: ["10.0.0.0/8", "not-an-ip"] } }];
    assert.deepEqual(
      Object.keys(policiesOf(rbacRules([policy("ALLOW", [{ from }])], "ALLOW", false))),
      ["ns.ns.p"],
    );
    assert.deepEqual(
      policiesOf(
        rbacRules(
          [policy("DENY", [{ from, to: [{ operation: { ports: ["http"] } }] }])],
          "DENY",
          false,
        ),
      )["ns.ns.p.rule0"],
      {
        permissions: [{ any: true }],
        principals: [
          { direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: { value: 8 } } },
        ],
      },
    );
  });
  it("ALLOW with no rules allows nothing; a rule {} matches everything", () => {
    assert.deepEqual(Object.keys(policiesOf(rbacRules([policy("ALLOW", [])], "ALLOW", false))), [
      "ns.ns.p",
    ]);
    assert.deepEqual(
      policiesOf(rbacRules([policy("ALLOW", [{}])], "ALLOW", false))["ns.ns.p.rule0"],
      {
        permissions: [{ any: true }],
        principals: [{ any: true }],
      },
    );
  });
  it("not-fields, ipBlocks and when conditions combine per `from`", () => {
    const rules = rbacRules(
      [
        policy("ALLOW", [
          {
            from: [
              { source: { notPrincipals: ["a/ns/b/sa/c"], ipBlocks: ["10.0.0.0/8", "1.2.3.4"] } },
            ],
            when: [{ key: "request.headers[X-Team]", values: ["*"] }],
          },
        ]),
      ],
      "ALLOW",
      false,
    );
    assert.deepEqual(policiesOf(rules)["ns.ns.p.rule0"]?.principals, [
      {
        and_ids: {
          ids: [
            { header: { name: "x-team", present_match: true } },
            { not_id: { authenticated: { principal_name: { exact: "spiffe://a/ns/b/sa/c" } } } },
            {
              or_ids: {
                ids: [
                  { direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: { value: 8 } } },
                  { direct_remote_ip: { address_prefix: "1.2.3.4", prefix_len: { value: 32 } } },
                ],
              },
            },
          ],
        },
      },
    ]);
  });
});

describe("proto enum numbers", () => {
  const enums: [string, string, number][] = [
    ["envoy.config.cluster.v3.Cluster.DiscoveryType", "STATIC", Enum.STATIC],
    ["envoy.config.cluster.v3.Cluster.DiscoveryType", "EDS", Enum.EDS],
    ["envoy.config.cluster.v3.Cluster.DiscoveryType", "ORIGINAL_DST", Enum.ORIGINAL_DST],
    ["envoy.config.cluster.v3.Cluster.LbPolicy", "ROUND_ROBIN", Enum.ROUND_ROBIN],
    ["envoy.config.cluster.v3.Cluster.LbPolicy", "LEAST_REQUEST", Enum.LEAST_REQUEST],
    ["envoy.config.cluster.v3.Cluster.LbPolicy", "RING_HASH", Enum.RING_HASH],
    ["envoy.config.cluster.v3.Cluster.LbPolicy", "RANDOM", Enum.RANDOM],
    ["envoy.config.cluster.v3.Cluster.LbPolicy", "CLUSTER_PROVIDED", Enum.CLUSTER_PROVIDED],
    ["envoy.config.core.v3.RoutingPriority", "DEFAULT", Enum.DEFAULT_PRIORITY],
    ["envoy.config.core.v3.ApiVersion", "V3", Enum.V3],
    ["envoy.config.core.v3.ApiConfigSource.ApiType", "GRPC", Enum.GRPC],
    ["envoy.config.core.v3.HealthStatus", "HEALTHY", Enum.HEALTHY],
    ["envoy.config.core.v3.HealthStatus", "DRAINING", Enum.DRAINING],
    [
      "envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.SanType",
      "URI",
      Enum.SAN_URI,
    ],
    ["envoy.config.rbac.v3.RBAC.Action", "ALLOW", Enum.RBAC_ALLOW],
    ["envoy.config.rbac.v3.RBAC.Action", "DENY", Enum.RBAC_DENY],
    [
      "envoy.config.route.v3.RouteAction.ClusterNotFoundResponseCode",
      "INTERNAL_SERVER_ERROR",
      Enum.INTERNAL_SERVER_ERROR,
    ],
    ["envoy.config.core.v3.TrafficDirection", "INBOUND", Enum.INBOUND],
    ["envoy.config.core.v3.TrafficDirection", "OUTBOUND", Enum.OUTBOUND],
    [
      "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.CodecType",
      "AUTO",
      Enum.CODEC_AUTO,
    ],
  ];
  for (const [type, name, value] of enums) {
    it(`${type}.${name} = ${value}`, () => {
      messageType("envoy.config.cluster.v3.Cluster"); // loads the root
      assert.equal(xdsRoot().lookupEnum(type).values[name], value);
    });
  }
});

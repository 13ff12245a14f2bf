// checkSnapshot finds each kind of inconsistency (a table of broken snapshots made from the
// fixture's good one), and the test helpers themselves can fail: grpc-js-xds' validators
// reject what they should, and the lossless check catches a misspelt field.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import {
  checkSnapshot,
  compileMesh,
  type SnapshotIssueCode,
  snapshotFor,
} from "../../control-plane/translator/index.js";
import type { ResourceMap, Snapshot } from "../../control-plane/xds/types.js";
import { fixtureModel, OPTIONS, proxylessNode, sidecarNode } from "./translator-fixture.js";
import { assertLossless, grpcValidationErrors } from "./translator-helpers.js";

const compiled = compileMesh(fixtureModel(), OPTIONS);
const good = snapshotFor(compiled, sidecarNode("shop", "backend-1"));

/** A copy of `good` with one type's map edited. */
function edit(typeUrl: TypeUrl, change: (m: Map<string, XdsMessage>) => void): Snapshot {
  const resources = new Map<TypeUrl, ResourceMap>(good.resources);
  const map = new Map(good.resources.get(typeUrl));
  change(map);
  resources.set(typeUrl, map);
  return { version: "x", resources };
}

const clone = (m: XdsMessage | undefined): XdsMessage => structuredClone(m ?? {});
const BACKEND = "outbound|80||backend.shop.svc.cluster.local";
const RC = "backend.shop.svc.cluster.local:80";

describe("checkSnapshot", () => {
  const cases: [string, Snapshot, SnapshotIssueCode, string][] = [
    [
      "an EDS cluster without its assignment",
      edit(TypeUrl.ClusterLoadAssignment, (m) => m.delete(BACKEND)),
      "MISSING_LOAD_ASSIGNMENT",
      BACKEND,
    ],
    [
      "a listener's RDS name without its route configuration",
      edit(TypeUrl.RouteConfiguration, (m) => m.delete(RC)),
      "MISSING_ROUTE_CONFIGURATION",
      "virtualOutbound",
    ],
    [
      "a route naming a missing cluster",
      edit(TypeUrl.Cluster, (m) => m.delete("outbound|80||backend-v2.shop.svc.cluster.local")),
      "MISSING_CLUSTER",
      RC,
    ],
    [
      "a tcp_proxy naming a missing cluster",
      edit(TypeUrl.Cluster, (m) => m.delete("outbound|5432||db.data.svc.cluster.local")),
      "MISSING_CLUSTER",
      "virtualOutbound",
    ],
    [
      "an inline inbound route naming a missing cluster",
      edit(TypeUrl.Cluster, (m) => m.delete("inbound|8080||")),
      "MISSING_CLUSTER",
      "virtualInbound",
    ],
    [
      "an ADS secret that is missing",
      edit(TypeUrl.Secret, (m) => m.clear()),
      "MISSING_SECRET",
      BACKEND,
    ],
    [
      "a resource whose name is not its key",
      edit(TypeUrl.Cluster, (m) => m.set("other", clone(m.get(BACKEND)))),
      "NAME_MISMATCH",
      "other",
    ],
    [
      "two filter chains with one name",
      edit(TypeUrl.Listener, (m) => {
        const l = clone(m.get("virtualInbound"));
        const chains = l.filter_chains as XdsMessage[];
        chains.push({
          ...(chains[0] as XdsMessage),
          filter_chain_match: { destination_port: { value: 1 } },
        });
        m.set("virtualInbound", l);
      }),
      "DUPLICATE_NAME",
      "virtualInbound",
    ],
    [
      "two filter chains with one match",
      edit(TypeUrl.Listener, (m) => {
        const l = clone(m.get("virtualInbound"));
        const chains = l.filter_chains as XdsMessage[];
        chains.push({ ...(chains[0] as XdsMessage), name: "copy" });
        m.set("virtualInbound", l);
      }),
      "DUPLICATE_FILTER_CHAIN_MATCH",
      "virtualInbound",
    ],
    [
      "two virtual hosts with one name",
      edit(TypeUrl.RouteConfiguration, (m) => {
        const rc = clone(m.get(RC));
        const vhosts = rc.virtual_hosts as XdsMessage[];
        vhosts.push(vhosts[0] as XdsMessage);
        m.set(RC, rc);
      }),
      "DUPLICATE_NAME",
      RC,
    ],
  ];
  it("finds nothing in a good snapshot", () => assert.deepEqual(checkSnapshot(good), []));
  for (const [name, snapshot, code, resource] of cases) {
    it(`finds ${name} (${code})`, () => {
      const issues = checkSnapshot(snapshot);
      assert.ok(
        issues.some((i) => i.code === code && i.resource === resource),
        JSON.stringify(issues, null, 2),
      );
    });
  }
  it("lets routes name InvalidBackendCluster, which is never defined", () => {
    const clusters = good.resources.get(TypeUrl.Cluster);
    assert.equal(clusters?.has("InvalidBackendCluster"), false);
    const routes = JSON.stringify([
      ...(good.resources.get(TypeUrl.RouteConfiguration)?.values() ?? []),
    ]);
    assert.match(routes, /InvalidBackendCluster/);
  });
});

describe("the test helpers can fail", () => {
  it("grpc-js-xds rejects direct_response routes, path_separated_prefix and a non-final router", () => {
    const proxyless = snapshotFor(compiled, proxylessNode("shop"));
    const resources = new Map<TypeUrl, ResourceMap>(proxyless.resources);
    const rc = {
      name: "bad",
      virtual_hosts: [
        {
          name: "bad",
          domains: ["*"],
          routes: [
            { match: { prefix: "/" }, direct_response: { status: 500 } },
            { match: { path_separated_prefix: "/x" }, route: { cluster: "c" } },
          ],
        },
      ],
    };
    const listener = {
      name: "bad",
      api_listener: {
        api_listener: {
          "@type":
            "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          rds: { route_config_name: "bad", config_source: { ads: {} } },
          http_filters: [
            {
              name: "router",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
              },
            },
            {
              name: "rbac",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
              },
            },
          ],
        },
      },
    };
    resources.set(TypeUrl.RouteConfiguration, new Map([["bad", rc]]));
    resources.set(TypeUrl.Listener, new Map([["bad", listener]]));
    const errors = grpcValidationErrors({ version: "x", resources });
    assert.equal(errors.length, 2, errors.join("\n"));
    assert.match(errors.join("\n"), /unsupported action: direct_response/);
    assert.match(errors.join("\n"), /path_specifier: path_separated_prefix/);
    assert.match(errors.join("\n"), /router filter is before the end of the list/);
  });
  it("the lossless check catches a misspelt field", () => {
    assert.throws(
      () => assertLossless(TypeUrl.Cluster, { name: "c", conect_timeout: { seconds: 1 } }),
      /conect_timeout: lost/,
    );
  });
});

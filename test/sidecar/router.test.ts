// The L7 pipeline with a scripted upstream: circuit breaking (max_requests in flight per
// cluster, OVERFLOW past it, a slot back when a response ends), and the errors that never
// reach an upstream — no route, RBAC denial — as coded ProxyErrors.

import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { describe, it } from "node:test";
import type { XdsMessage } from "../../api/xds-proto.js";
import type { ProxyRequest, ProxyResponse } from "../../sidecar/http/contract.js";
import { RetryBudget } from "../../sidecar/http/retry.js";
import { connectionManagerHandler } from "../../sidecar/http/router.js";
import { CircuitBreakers } from "../../sidecar/proxy/circuit-breakers.js";
import { ClusterPicker } from "../../sidecar/proxy/clusters.js";
import { staticCluster } from "./fixtures.js";

const cluster = (extra: XdsMessage = {}) => staticCluster(["10.0.0.1"], extra);
const ROUTES = {
  name: "r",
  virtual_hosts: [
    {
      name: "vh",
      domains: ["*"],
      routes: [{ match: { prefix: "/api" }, route: { cluster: "c" } }],
    },
  ],
};
const request = (path = "/api/x"): ProxyRequest => ({
  method: "GET",
  path,
  authority: "web",
  scheme: "http",
  headers: {},
  body: Readable.from([]),
  grpc: false,
});

/** An upstream whose responses stay open until the test ends them. */
function scriptedPools() {
  const open: PassThrough[] = [];
  return {
    open,
    dispatch: async (): Promise<ProxyResponse> => {
      const body = new PassThrough();
      open.push(body);
      return { status: 200, headers: {}, body, trailers: Promise.resolve({}) };
    },
  };
}

describe("L7 router", () => {
  it("circuit breaking: max_requests in flight, OVERFLOW past it, a slot back when one ends", async () => {
    const pools = scriptedPools();
    const handler = connectionManagerHandler(
      {
        config: () =>
          cluster({ circuit_breakers: { thresholds: [{ max_requests: { value: 2 } }] } }),
        picker: new ClusterPicker(),
        pools,
        budget: new RetryBudget(),
        breakers: new CircuitBreakers(),
      },
      {
        routes: () => ROUTES,
        httpFilters: [],
        destinationPort: 80,
        destination: { address: "10.96.0.1", port: 80 },
      },
    );
    const signal = new AbortController().signal;
    await handler(request(), signal);
    await handler(request(), signal);
    await assert.rejects(handler(request(), signal), (e: Error & { code?: string }) => {
      assert.equal(e.code, "OVERFLOW");
      assert.match(e.message, /cluster c has 2 requests in flight/);
      return true;
    });
    pools.open[0]?.end();
    pools.open[0]?.resume();
    await new Promise((r) => setImmediate(r));
    await handler(request(), signal);
    assert.equal(pools.open.length, 3, "the third upstream request went out after a slot freed");
  });

  it("answers without an upstream: no route, and an RBAC denial naming the policy", async () => {
    const pools = scriptedPools();
    const handler = connectionManagerHandler(
      {
        config: () => cluster(),
        picker: new ClusterPicker(),
        pools,
        budget: new RetryBudget(),
        breakers: new CircuitBreakers(),
      },
      {
        routes: () => ROUTES,
        httpFilters: [
          {
            name: "envoy.filters.http.rbac",
            typed_config: {
              rules: {
                action: "DENY",
                policies: {
                  "no-admin": {
                    permissions: [{ url_path: { path: { prefix: "/api/admin" } } }],
                    principals: [{ any: true }],
                  },
                },
              },
            },
          },
        ],
        destinationPort: 80,
        destination: { address: "10.96.0.1", port: 80 },
      },
    );
    const signal = new AbortController().signal;
    await assert.rejects(handler(request("/other"), signal), { code: "NO_ROUTE" });
    await assert.rejects(
      handler(request("/api/admin/x"), signal),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "RBAC_DENIED");
        assert.match(e.message, /denied by no-admin/);
        return true;
      },
    );
    assert.equal(pools.open.length, 0, "nothing reached the upstream");
    await handler(request("/api/ok"), signal);
    assert.equal(pools.open.length, 1);
  });
});

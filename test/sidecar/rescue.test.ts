// The one error-to-status mapping: what an HTTP caller and a gRPC caller see for each
// failure of the L7 path.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ProxyErrorCode } from "../../sidecar/http/contract.js";
import { rescue } from "../../sidecar/http/rescue.js";

const TABLE: [ProxyErrorCode, number, number][] = [
  ["NO_ROUTE", 404, 12], // UNIMPLEMENTED
  ["NO_VIRTUAL_HOST", 404, 12],
  ["CLUSTER_NOT_FOUND", 503, 14], // UNAVAILABLE
  ["NO_HEALTHY_UPSTREAM", 503, 14],
  ["UPSTREAM_CONNECT_FAILED", 503, 14],
  ["UPSTREAM_CONNECT_TIMEOUT", 503, 14],
  ["UPSTREAM_PEER_IDENTITY", 503, 14],
  ["OVERFLOW", 503, 14],
  ["UPSTREAM_TIMEOUT", 504, 4], // DEADLINE_EXCEEDED
  ["UPSTREAM_RESET", 502, 14],
  ["RBAC_DENIED", 403, 7], // PERMISSION_DENIED
];

describe("rescue", () => {
  for (const [code, status, grpc] of TABLE) {
    it(`${code} → HTTP ${status}, grpc-status ${grpc}`, () => {
      const reply = rescue(code, "why");
      assert.equal(reply.status, status);
      assert.equal(reply.grpcStatus, grpc);
      assert.equal(reply.message, `${code}: why`);
    });
  }
  it("a direct response keeps the route's own status", () => {
    assert.equal(rescue("DIRECT_RESPONSE", "maintenance", 503).status, 503);
  });
});

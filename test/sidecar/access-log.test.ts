// The access log writes one JSON line per request event of its own sidecar, and nothing for
// another's.

import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { AccessLog } from "../../sidecar/telemetry/access-log.js";
import { type RequestEvent, requestChannel } from "../../sidecar/telemetry/events.js";

const event = (sidecar: string): RequestEvent => ({
  sidecar,
  direction: "outbound",
  mtls: true,
  durationMs: 12.3456,
  protocol: "http",
  method: "GET",
  path: "/api/x",
  authority: "web.shop.svc.cluster.local",
  route: "shop.web.0.0",
  cluster: "outbound|80||web.shop.svc.cluster.local",
  endpoint: "10.244.1.5:8080",
  status: 503,
  attempts: 2,
  error: "NO_HEALTHY_UPSTREAM",
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
});

describe("access log", () => {
  it("writes a JSON line per request of its sidecar", () => {
    const out = new PassThrough();
    const log = new AccessLog("me", out);
    try {
      requestChannel.publish(event("me"));
      requestChannel.publish(event("someone-else"));
    } finally {
      log.close();
    }
    requestChannel.publish(event("me"));
    const lines = String(out.read() ?? "")
      .trim()
      .split("\n");
    assert.equal(lines.length, 1, "one line: not the other sidecar's, nothing after close");
    const line = JSON.parse(lines[0] ?? "{}");
    assert.equal(line.response_code, 503);
    assert.equal(line.response_flags, "NO_HEALTHY_UPSTREAM");
    assert.equal(line.upstream_host, "10.244.1.5:8080");
    assert.equal(line.attempts, 2);
    assert.equal(line.duration_ms, 12.346);
    assert.equal(line.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  });
});

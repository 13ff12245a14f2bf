// The Prometheus registry on its own: events published on the sidecar's channels become
// Istio's series, one per distinct label set (events whose labels coincide count in one
// series, as the exposition format needs), with cumulative histogram buckets.

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import {
  type ConnectionEvent,
  connectionChannel,
  type RequestEvent,
  requestChannel,
} from "../../sidecar/telemetry/events.js";
import { SidecarMetrics } from "../../sidecar/telemetry/metrics.js";

const SELF = {
  name: "client",
  namespace: "shop",
  principal: "spiffe://cluster.local/ns/shop/sa/client",
};
const PEER = "spiffe://cluster.local/ns/shop/sa/web";

const request = (over: Partial<RequestEvent>): RequestEvent => ({
  sidecar: "client-0.shop",
  direction: "outbound",
  peerPrincipal: PEER,
  cluster: "outbound|80||web.shop.svc.cluster.local",
  mtls: true,
  durationMs: 3,
  protocol: "http",
  method: "GET",
  path: "/",
  authority: "web",
  status: 200,
  attempts: 1,
  ...over,
});

/** The sample lines of one metric family, label text → value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (m && m[1] === name) {
      assert.ok(!out.has(m[2] as string), `duplicate series ${name}{${m[2]}}`);
      out.set(m[2] as string, Number(m[3]));
    }
  }
  return out;
}

describe("sidecar metrics", () => {
  const metrics = new SidecarMetrics("client-0.shop", SELF);
  after(() => metrics.close());

  it("counts requests per label set and keeps one series for coinciding labels", () => {
    requestChannel.publish(request({}));
    // Outbound labels do not carry mTLS: the same series.
    requestChannel.publish(request({ mtls: false, durationMs: 0.2 }));
    requestChannel.publish(request({ status: 503, error: "UPSTREAM_CONNECT", durationMs: 40 }));
    // Another sidecar's event (several may share a process): not ours.
    requestChannel.publish(request({ sidecar: "other" }));
    const text = metrics.render();
    const totals = samples(text, "istio_requests_total");
    assert.equal(totals.size, 2);
    const ok = [...totals].find(([k]) => k.includes('response_code="200"'));
    const failed = [...totals].find(([k]) => k.includes('response_code="503"'));
    assert.equal(ok?.[1], 2);
    assert.equal(failed?.[1], 1);
    assert.match(ok?.[0] ?? "", /reporter="source"/);
    assert.match(ok?.[0] ?? "", /destination_service="web\.shop\.svc\.cluster\.local"/);
    assert.match(
      ok?.[0] ?? "",
      /source_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/client"/,
    );
    assert.match(failed?.[0] ?? "", /response_flags="UPSTREAM_CONNECT"/);
  });

  it("fills the histogram's buckets cumulatively", () => {
    const text = metrics.render();
    const buckets = samples(text, "istio_request_duration_milliseconds_bucket");
    const ok = (le: string) =>
      [...buckets].find(
        ([k]) => k.includes('response_code="200"') && k.endsWith(`le="${le}"`),
      )?.[1];
    assert.equal(ok("0.5"), 1); // 0.2 ms
    assert.equal(ok("1"), 1);
    assert.equal(ok("5"), 2); // and 3 ms
    assert.equal(ok("+Inf"), 2);
    const failed = (le: string) =>
      [...buckets].find(
        ([k]) => k.includes('response_code="503"') && k.endsWith(`le="${le}"`),
      )?.[1];
    assert.equal(failed("25"), 0);
    assert.equal(failed("50"), 1);
    const sums = samples(text, "istio_request_duration_milliseconds_sum");
    assert.equal([...sums].find(([k]) => k.includes('response_code="200"'))?.[1], 3.2);
  });

  it("counts TCP connections and bytes per label set", () => {
    const conn = (over: Partial<ConnectionEvent>): ConnectionEvent => ({
      sidecar: "client-0.shop",
      direction: "inbound",
      peerPrincipal: PEER,
      cluster: "inbound|5432||",
      mtls: true,
      durationMs: 0,
      phase: "open",
      sentBytes: 0,
      receivedBytes: 0,
      ...over,
    });
    connectionChannel.publish(conn({}));
    connectionChannel.publish(conn({ phase: "close", sentBytes: 10, receivedBytes: 4 }));
    connectionChannel.publish(conn({ phase: "close", sentBytes: 5, receivedBytes: 1 }));
    const text = metrics.render();
    const sent = samples(text, "istio_tcp_sent_bytes_total");
    assert.equal(sent.size, 1);
    const [labels, bytes] = [...sent][0] as [string, number];
    assert.equal(bytes, 15);
    assert.match(labels, /connection_security_policy="mutual_tls"/);
    assert.match(labels, /source_workload_namespace="shop"/);
    assert.equal([...samples(text, "istio_tcp_received_bytes_total").values()][0], 5);
    assert.equal([...samples(text, "istio_tcp_connections_opened_total").values()][0], 1);
    assert.equal([...samples(text, "istio_tcp_connections_closed_total").values()][0], 2);
  });
});

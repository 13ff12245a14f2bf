// Trace context through one hop: traceparent and B3 carried on with a new span id whose
// parent is the incoming span, a trace started when there is none, bad headers replaced,
// x-request-id kept or made.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nextHop } from "../../sidecar/http/trace-context.js";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";
let n = 0;
const ids = (bytes: number) => (++n).toString(16).padStart(bytes * 2, "a");

describe("trace context", () => {
  it("continues a W3C trace: same trace id, a new span, the old one its parent", () => {
    const { headers, hop } = nextHop(
      { traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: "vendor=x" },
      ids,
    );
    assert.equal(hop.traceId, TRACE);
    assert.equal(hop.parentSpanId, SPAN);
    assert.notEqual(hop.spanId, SPAN);
    assert.equal(headers.traceparent, `00-${TRACE}-${hop.spanId}-01`);
    assert.equal(headers.tracestate, "vendor=x", "tracestate passes as it is");
  });

  it("keeps the sampling decision, and starts a sampled trace when there is none", () => {
    assert.equal(nextHop({ traceparent: `00-${TRACE}-${SPAN}-00` }, ids).hop.sampled, false);
    const fresh = nextHop({}, ids);
    assert.equal(fresh.hop.sampled, true);
    assert.equal(fresh.hop.parentSpanId, undefined);
    assert.match(String(fresh.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.match(
      String(fresh.headers["x-request-id"]),
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it("replaces an invalid traceparent (all-zero ids, version ff) with a new trace", () => {
    for (const bad of [`00-${"0".repeat(32)}-${SPAN}-01`, `ff-${TRACE}-${SPAN}-01`, "garbage"]) {
      const { hop } = nextHop({ traceparent: bad }, ids);
      assert.notEqual(hop.traceId, TRACE, bad);
      assert.equal(hop.parentSpanId, undefined);
    }
  });

  it("carries B3, multi-header and single-header, with the new span", () => {
    const multi = nextHop({ "x-b3-traceid": TRACE, "x-b3-spanid": SPAN, "x-b3-sampled": "1" }, ids);
    assert.equal(multi.headers["x-b3-traceid"], TRACE);
    assert.equal(multi.headers["x-b3-parentspanid"], SPAN);
    assert.equal(multi.headers["x-b3-spanid"], multi.hop.spanId);
    assert.equal(multi.hop.traceId, TRACE, "and the W3C header joins the same trace");
    const single = nextHop({ b3: `${TRACE}-${SPAN}-0` }, ids);
    assert.equal(single.hop.sampled, false);
    assert.equal(single.headers["x-b3-parentspanid"], SPAN);
    assert.equal(single.headers.b3, undefined, "rewritten as multi-header B3");
  });

  it("keeps an x-request-id it was given", () => {
    assert.equal(nextHop({ "x-request-id": "req-1" }, ids).headers["x-request-id"], "req-1");
  });
});

// Trace context across the hop a sidecar makes: W3C traceparent (tracestate passed on as
// is) and B3 (x-b3-* and the single `b3` header) are carried forward with a new span id
// for this hop, the incoming span becoming its parent; a request with no context starts a
// trace (sampled: the lab traces everything). x-request-id is kept, or made. Pure but for
// the random ids; the span ids are what the sidecar's spans will carry (observability).

import { randomFillSync } from "node:crypto";
import type { Headers } from "./contract.js";

export interface HopContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
/**
 * Random ids from a pool refilled 4 KiB at a time: up to three ids per request, and one
 * system call per ~100 requests instead of three per request.
 */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
function hex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = pool.toString("hex", poolAt, poolAt + bytes);
  poolAt += bytes;
  return out;
}
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** The headers for the next hop (a copy), and this hop's context. */
export function nextHop(
  headers: Headers,
  newId: (bytes: number) => string = hex,
): { headers: Headers; hop: HopContext } {
  // A copy written to afterwards: Object.assign, not a spread (shapes.ts).
  const out: Headers = Object.assign({}, headers);
  const parent = parseIncoming(headers);
  const spanId = newId(8);
  const hop: HopContext = parent
    ? { traceId: parent.traceId, spanId, parentSpanId: parent.spanId, sampled: parent.sampled }
    : { traceId: newId(16), spanId, sampled: true };
  out.traceparent = `00-${hop.traceId}-${spanId}-${hop.sampled ? "01" : "00"}`;
  if (headers["x-b3-traceid"] !== undefined || headers.b3 !== undefined) {
    // B3 keeps its own 64- or 128-bit trace id form: reuse the incoming one.
    const b3Trace = first(headers["x-b3-traceid"]) ?? String(first(headers.b3)).split("-")[0];
    out["x-b3-traceid"] = b3Trace ?? hop.traceId;
    out["x-b3-spanid"] = spanId;
    if (hop.parentSpanId) out["x-b3-parentspanid"] = hop.parentSpanId;
    out["x-b3-sampled"] = hop.sampled ? "1" : "0";
    delete out.b3;
  }
  if (out["x-request-id"] === undefined) out["x-request-id"] = uuid(newId);
  return { headers: out, hop };
}

function parseIncoming(
  h: Headers,
): { traceId: string; spanId: string; sampled: boolean } | undefined {
  const tp = TRACEPARENT.exec(
    String(first(h.traceparent) ?? "")
      .trim()
      .toLowerCase(),
  );
  if (tp && tp[1] !== "ff" && !/^0+$/.test(tp[2] ?? "") && !/^0+$/.test(tp[3] ?? "")) {
    return {
      traceId: tp[2] as string,
      spanId: tp[3] as string,
      sampled: (Number.parseInt(tp[4] as string, 16) & 1) === 1,
    };
  }
  const b3Trace = first(h["x-b3-traceid"]);
  const b3Span = first(h["x-b3-spanid"]);
  if (b3Trace && b3Span) {
    return {
      traceId: b3Trace.padStart(32, "0"),
      spanId: b3Span,
      sampled: first(h["x-b3-sampled"]) !== "0",
    };
  }
  const single = first(h.b3);
  if (single) {
    const [traceId, spanId, sampled] = single.split("-");
    if (traceId && spanId) {
      return { traceId: traceId.padStart(32, "0"), spanId, sampled: sampled !== "0" };
    }
  }
  return undefined;
}

function uuid(newId: (bytes: number) => string): string {
  const h = newId(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((Number.parseInt(h[16] ?? "0", 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

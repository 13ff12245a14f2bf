// The request path's cancel signal (contract.ts, Cancellation): an EventTarget with
// AbortSignal's aborted, reason and "abort" event, which fires once.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Cancellation } from "../../sidecar/http/contract.js";

describe("Cancellation", () => {
  it("fires abort once, with the first reason", () => {
    const c = new Cancellation();
    const seen: unknown[] = [];
    c.addEventListener("abort", () => seen.push(c.reason));
    assert.equal(c.aborted, false);
    c.abort("first");
    c.abort("second");
    assert.equal(c.aborted, true);
    assert.deepEqual(seen, ["first"]);
  });

  it("gives an AbortError as the reason by default, as AbortController does", () => {
    const c = new Cancellation();
    c.abort();
    assert.ok(c.reason instanceof DOMException);
    assert.equal((c.reason as DOMException).name, "AbortError");
  });

  it("calls no listener that was removed", () => {
    const c = new Cancellation();
    let called = 0;
    const f = () => called++;
    c.addEventListener("abort", f, { once: true });
    c.removeEventListener("abort", f);
    c.abort();
    assert.equal(called, 0);
  });
});

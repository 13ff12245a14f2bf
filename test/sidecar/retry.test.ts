// Timeouts and retries around a Dispatch, with attempts made up in the test: the route's
// timeout covers the whole request (retries and the response body included) and maps to
// UPSTREAM_TIMEOUT; a per-try timeout ends one attempt and lets the next go; the downstream
// signal aborts the attempt; and once a request is over no timeout of it is left to fire.

import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type Dispatch,
  ProxyError,
  type ProxyRequest,
  type ProxyResponse,
  type RequestSignal,
} from "../../sidecar/http/contract.js";
import { RetryBudget, withRetries } from "../../sidecar/http/retry.js";
import type { RetryPolicy } from "../../sidecar/http/route-match.js";

const request = (): ProxyRequest => ({
  method: "GET",
  path: "/",
  authority: "web",
  scheme: "http",
  headers: {},
  body: Readable.from([]),
  grpc: false,
});

const response = (body: Readable, status = 200): ProxyResponse => ({
  status,
  headers: {},
  body,
  trailers: Promise.resolve({}),
});

const retries = (over: Partial<RetryPolicy> = {}): RetryPolicy => ({
  numRetries: 2,
  retryOn: new Set(["5xx", "reset"]),
  retriableStatusCodes: new Set(),
  backoffBaseMs: 1,
  backoffMaxMs: 2,
  ...over,
});

/** An attempt that never answers; it records the signals it was given. */
function hanging(signals: RequestSignal[]): Dispatch {
  return (_req, signal) => {
    signals.push(signal);
    return new Promise(() => {});
  };
}

/** withRetries with a fresh budget and, unless given, a caller that never goes away. */
const run = (
  attempt: Dispatch,
  route: Parameters<typeof withRetries>[3],
  signal = new AbortController().signal,
  stats = { attempts: 0 },
) => withRetries(attempt, request(), signal, route, new RetryBudget(), stats);

describe("withRetries: timeouts", () => {
  it("the route's timeout ends a request that gets no answer, as UPSTREAM_TIMEOUT", async () => {
    const signals: RequestSignal[] = [];
    const started = performance.now();
    await assert.rejects(
      run(hanging(signals), { timeoutMs: 50 }),
      (err: unknown) =>
        err instanceof ProxyError &&
        err.code === "UPSTREAM_TIMEOUT" &&
        /route's timeout/.test(err.message),
    );
    assert.ok(performance.now() - started >= 45, "not before the timeout");
    assert.equal(signals.length, 1);
    assert.equal(signals[0]?.aborted, true, "the attempt is told to stop");
  });

  it("a per-try timeout ends the attempt and the retry answers", async () => {
    const signals: RequestSignal[] = [];
    let n = 0;
    const attempt: Dispatch = (req, signal) => {
      n++;
      if (n === 1) return hanging(signals)(req, signal);
      signals.push(signal);
      return Promise.resolve(response(Readable.from([Buffer.from("ok")])));
    };
    const stats = { attempts: 0 };
    const res = await run(
      attempt,
      { timeoutMs: 5_000, retry: retries({ perTryTimeoutMs: 30 }) },
      new AbortController().signal,
      stats,
    );
    assert.equal(res.status, 200);
    assert.equal(stats.attempts, 2);
    assert.equal(signals[0]?.aborted, true);
    assert.equal(signals[1]?.aborted, false);
    res.body.resume();
  });

  it("no timeout of a finished request fires later", async () => {
    const signals: RequestSignal[] = [];
    const attempt: Dispatch = (_req, signal) => {
      signals.push(signal);
      return Promise.resolve(response(Readable.from([Buffer.from("done")])));
    };
    const res = await run(attempt, { timeoutMs: 40, retry: retries({ perTryTimeoutMs: 20 }) });
    for await (const _ of res.body) {
      // read it all: the request is over
    }
    await sleep(80);
    assert.equal(signals.length, 1);
    assert.equal(signals[0]?.aborted, false, "the timers went with the request");
  });

  it("the route's timeout covers the response body: a body still streaming is cut off", async () => {
    const signals: RequestSignal[] = [];
    const body = new PassThrough();
    const attempt: Dispatch = (_req, signal) => {
      signals.push(signal);
      return Promise.resolve(response(body));
    };
    const res = await run(attempt, { timeoutMs: 40 });
    assert.equal(res.body, body, "the body is streamed through, not buffered");
    body.write("first bytes");
    assert.equal(signals[0]?.aborted, false);
    await sleep(80);
    assert.equal(signals[0]?.aborted, true);
    body.destroy();
  });

  it("the caller going away aborts the attempt", async () => {
    const signals: RequestSignal[] = [];
    const caller = new AbortController();
    const done = run(hanging(signals), { timeoutMs: 5_000 }, caller.signal);
    await sleep(5);
    caller.abort();
    await assert.rejects(
      done,
      (err: unknown) => err instanceof ProxyError && err.code === "UPSTREAM_TIMEOUT",
    );
    assert.equal(signals[0]?.aborted, true);
  });
});

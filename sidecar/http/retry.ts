// Retries and timeouts, as a wrapper around a Dispatch. An attempt is retried when the
// route's retry_on says so (5xx, gateway-error, reset, connect-failure, retriable status
// codes, gRPC codes), up to num_retries, after a backoff with full jitter — and only when
// the request body fits the replay buffer (bodies are streamed, never buffered whole, so
// a larger one gets one attempt). A budget (Envoy's retry_budget: 20 % of the requests in
// flight, at least 3) keeps retries from multiplying load when everything fails.

import { Readable } from "node:stream";
import type { Dispatch, ProxyRequest, ProxyResponse, RequestSignal } from "./contract.js";
import { Cancellation, ProxyError } from "./contract.js";
import type { RetryPolicy } from "./route-match.js";

/** The largest request body kept for replay (Envoy's per_request_buffer_limit default: 1 MiB; a sidecar can afford less). */
export const REPLAY_BUFFER_BYTES = 64 * 1024;

const GRPC_CODES: Record<string, number> = {
  cancelled: 1,
  "deadline-exceeded": 4,
  "resource-exhausted": 8,
  internal: 13,
  unavailable: 14,
};

export class RetryBudget {
  #active = 0;
  #retrying = 0;
  constructor(
    readonly percent = 20,
    readonly minConcurrency = 3,
  ) {}
  begin(): () => void {
    this.#active++;
    return () => this.#active--;
  }
  tryRetry(): (() => void) | undefined {
    const allowed = Math.max(this.minConcurrency, (this.#active * this.percent) / 100);
    if (this.#retrying >= allowed) return undefined;
    this.#retrying++;
    return () => this.#retrying--;
  }
}

export interface RetryStats {
  attempts: number;
}

/** Reads the body up to `limit` bytes: the chunks, and whether that was all of it. */
async function bufferBody(
  body: Readable,
  limit: number,
): Promise<{ chunks: Buffer[]; rest?: Readable }> {
  const chunks: Buffer[] = [];
  let size = 0;
  const it = body[Symbol.asyncIterator]();
  for (;;) {
    const { value, done } = await it.next();
    if (done) return { chunks };
    const chunk = Buffer.from(value as Buffer);
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) {
      const rest = Readable.from(
        (async function* () {
          yield* chunks;
          for (;;) {
            const n = await it.next();
            if (n.done) return;
            yield n.value as Buffer;
          }
        })(),
      );
      return { chunks: [], rest };
    }
  }
}

function retryable(policy: RetryPolicy, res: ProxyResponse | undefined, err: unknown): boolean {
  const on = policy.retryOn;
  if (err instanceof ProxyError) {
    if (err.code.startsWith("UPSTREAM_CONNECT") || err.code === "UPSTREAM_TLS_FAILED") {
      return (
        on.has("connect-failure") || on.has("reset") || on.has("5xx") || on.has("gateway-error")
      );
    }
    if (err.code === "UPSTREAM_RESET") return on.has("reset") || on.has("5xx");
    if (err.code === "UPSTREAM_TIMEOUT") return on.has("5xx") || on.has("gateway-error");
    return false;
  }
  if (!res) return false;
  const s = res.status;
  if (on.has("5xx") && s >= 500) return true;
  if (on.has("gateway-error") && (s === 502 || s === 503 || s === 504)) return true;
  if (on.has("retriable-4xx") && s === 409) return true;
  if (on.has("retriable-status-codes") && policy.retriableStatusCodes.has(s)) return true;
  const grpc = Number(res.headers["grpc-status"] ?? Number.NaN);
  if (!Number.isNaN(grpc)) {
    for (const [name, code] of Object.entries(GRPC_CODES))
      if (on.has(name) && grpc === code) return true;
  }
  return false;
}

/**
 * Runs `attempt` with the route's timeout (for the whole request, retries included) and
 * retry policy. The downstream `signal` aborts everything.
 */
export async function withRetries(
  attempt: Dispatch,
  request: ProxyRequest,
  signal: RequestSignal,
  route: { readonly timeoutMs?: number; readonly retry?: RetryPolicy },
  budget: RetryBudget,
  stats: RetryStats = { attempts: 0 },
): Promise<ProxyResponse> {
  const routeDeadline = route.timeoutMs ? deadline(signal, route.timeoutMs) : undefined;
  const overall = routeDeadline?.signal ?? signal;
  /** The attempt's own deadline (per_try_timeout), when it has one. */
  let tryDeadline: Deadline | undefined;
  /** Once the request is over — failed, or the response body done — no timer is left. */
  const clearAll = () => {
    tryDeadline?.clear();
    routeDeadline?.clear();
  };
  const policy = route.retry;
  const done = budget.begin();
  /** The budget slot of the retry in flight, released when that attempt ends. */
  let held: (() => void) | undefined;
  try {
    let replay: Buffer[] | undefined;
    let body = request.body;
    if (policy && policy.numRetries > 0) {
      const buffered = await bufferBody(request.body, REPLAY_BUFFER_BYTES);
      if (buffered.rest) body = buffered.rest;
      else replay = buffered.chunks;
    }
    for (let n = 0; ; n++) {
      tryDeadline?.clear();
      tryDeadline = policy?.perTryTimeoutMs ? deadline(overall, policy.perTryTimeoutMs) : undefined;
      const perTry = tryDeadline?.signal ?? overall;
      const attemptBody = replay ? Readable.from(replay) : body;
      stats.attempts++;
      let res: ProxyResponse | undefined;
      let err: unknown;
      try {
        const tried =
          attemptBody === request.body
            ? request
            : Object.assign({}, request, { body: attemptBody });
        res = await timed(attempt(tried, perTry), perTry, overall);
      } catch (e) {
        err = e;
      }
      held?.();
      held = undefined;
      const last = !policy || !replay || n >= policy.numRetries || overall.aborted;
      if (last || !retryable(policy, res, err)) return settled(res, err, clearAll);
      const release = budget.tryRetry();
      if (!release) return settled(res, err, clearAll);
      held = release;
      res?.body.resume();
      res?.body.destroy();
      const delay = Math.random() * Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** n);
      await new Promise((r) => setTimeout(r, delay));
    }
  } catch (err) {
    clearAll();
    throw err;
  } finally {
    held?.();
    done();
  }
}

/** The outcome handed back: an error thrown, or the response, whose body's end clears `clear`. */
function settled(res: ProxyResponse | undefined, err: unknown, clear: () => void): ProxyResponse {
  if (err || !res) throw err;
  if (res.body.readableEnded || res.body.destroyed) clear();
  else {
    res.body.once("end", clear);
    res.body.once("close", clear);
  }
  return res;
}

/** An abort signal that follows `parent` and also fires after `ms`. */
interface Deadline {
  readonly signal: RequestSignal;
  /** The request is over: the timer and the link to `parent` go. */
  clear(): void;
}

/**
 * The route's and the per-try timeouts. AbortSignal.any with AbortSignal.timeout would do
 * the same, but its timer and signals live for the whole timeout after the request is done
 * (15 s by default, where the request takes a millisecond). This one is cleared with the
 * request.
 */
function deadline(parent: RequestSignal, ms: number): Deadline {
  const controller = new Cancellation();
  const follow = () => controller.abort(parent.reason);
  const timer = setTimeout(
    () => controller.abort(new DOMException("the timeout passed", "TimeoutError")),
    ms,
  );
  if (parent.aborted) follow();
  else parent.addEventListener("abort", follow, { once: true });
  return {
    signal: controller,
    clear() {
      clearTimeout(timer);
      parent.removeEventListener("abort", follow);
    },
  };
}

/** The attempt, or UPSTREAM_TIMEOUT when its signal fires first. */
function timed(
  p: Promise<ProxyResponse>,
  perTry: RequestSignal,
  overall: RequestSignal,
): Promise<ProxyResponse> {
  return new Promise((resolve, reject) => {
    const onAbort = () =>
      reject(
        new ProxyError(
          "UPSTREAM_TIMEOUT",
          overall.aborted ? "the route's timeout passed" : "the per-try timeout passed",
        ),
      );
    if (perTry.aborted) return onAbort();
    perTry.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        perTry.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        perTry.removeEventListener("abort", onAbort);
        reject(perTry.aborted ? new ProxyError("UPSTREAM_TIMEOUT", "timed out") : e);
      },
    );
  });
}

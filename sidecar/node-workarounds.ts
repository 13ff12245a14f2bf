// Process-wide workarounds for the Node.js the sidecar runs on, installed by the sidecar's
// own entry point (`trellis sidecar`), never by library code.
//
// AsyncResource.prototype.bind: in Node 20 the bound function gets a deprecated
// `asyncResource` accessor (DEP0172), made by two `deprecate()` wrappers whose prototypes are
// set to fresh functions: new hidden classes (Maps) in old space for every call. node:http2's
// client calls bind() once per request (ClientHttp2Session.request), and those Maps keep the
// whole request — the stream, its listeners, the downstream request that is piped into it —
// alive through every scavenge until a mark-compact. Measured on a bare Node h1 → h2 proxy at
// 1,000 rps: 0.9 MB promoted per scavenge before, none after. Node 24 stopped changing the
// prototype (nodejs/node#59195), and nodejs/node#58618 moves the property to end-of-life;
// this drops it. The bound function keeps its behaviour: `fn` runs in the resource's
// async scope, with `thisArg` or else the caller's `this`, and `length` is fn's.

import { AsyncResource } from "node:async_hooks";

let installed = false;

/** Whether this Node's bind() still attaches the deprecated accessor. */
export function bindAttachesAsyncResource(): boolean {
  return Object.hasOwn(
    new AsyncResource("trellis-probe").bind(() => {}),
    "asyncResource",
  );
}

export function installNodeWorkarounds(): void {
  if (installed || !bindAttachesAsyncResource()) return;
  installed = true;
  Object.defineProperty(AsyncResource.prototype, "bind", {
    configurable: true,
    writable: true,
    value: bindWithoutAsyncResource,
  });
}

function bindWithoutAsyncResource<F extends (...args: never[]) => unknown>(
  this: AsyncResource,
  fn: F,
  thisArg?: unknown,
): F {
  if (typeof fn !== "function") {
    throw new TypeError(`The "fn" argument must be of type function. Received ${typeof fn}`);
  }
  const resource = this;
  const run = resource.runInAsyncScope as (fn: F, self: unknown, ...args: unknown[]) => unknown;
  const bound =
    thisArg === undefined
      ? function (this: unknown, ...args: unknown[]) {
          return run.call(resource, fn, this, ...args);
        }
      : (...args: unknown[]) => run.call(resource, fn, thisArg, ...args);
  Object.defineProperty(bound, "length", {
    configurable: true,
    enumerable: false,
    writable: false,
    value: fn.length,
  });
  return bound as unknown as F;
}

// Objects built on a request's path, and V8's hidden classes.
/**
 * No object spreads on a request's path. In Node 20 (V8 11.3), once the code is optimized,
 * an object literal that spreads an object and then gets another property — `{ ...a, b }`,
 * `{ ...a, ...b }`, `{ ...a }` stored to afterwards — gets a hidden class (Map) of its own,
 * every time: one Map per request, in old space, and what it points to promoted with it
 * (the README: "Where the sidecar's memory went"). Literals, Object.assign into `{}` and loops
 * share one hidden class per shape.
 *
 * Node 20 makes two such objects itself: every AbortSignal (an EventTarget whose prototype is
 * swapped after construction) — the request path cancels with a Cancellation instead
 * (http/contract.ts) — and the `deprecate()` wrappers of the accessor AsyncResource.bind
 * attaches, which node:http2's client calls per request — the sidecar replaces bind
 * (node-workarounds.ts).
 *
 * test/sidecar/hidden-classes.test.ts holds the hot path to it.
 */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

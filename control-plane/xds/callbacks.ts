// Hooks into the xDS server's stream lifecycle (go-control-plane's Callbacks): the glue
// that builds a node's snapshot on its first request, metrics, the admin page. Every hook
// is optional, and a hook that throws (or returns a rejected promise) is logged, never
// thrown into the server: one bad observer must not break a proxy's stream.

import type { XdsMessage } from "../../api/xds-proto.js";

export type XdsProtocol = "sotw" | "delta";

export interface Callbacks {
  /** A stream was opened (before its first request). `peer` is like "ipv4:127.0.0.1:5555". */
  onStreamOpen?(streamId: number, protocol: XdsProtocol, peer: string): void | Promise<void>;
  /**
   * Every request, with the node from the stream's first request (later requests may
   * omit it). The first call for a stream is the moment to compute the node's snapshot.
   */
  onStreamRequest?(streamId: number, node: XdsMessage, request: XdsMessage): void | Promise<void>;
  /** A response was handed to the transport. */
  onStreamResponse?(streamId: number, typeUrl: string, response: XdsMessage): void | Promise<void>;
  /** The proxy accepted `version` of `typeUrl` (delta: the response's system_version_info). */
  onAck?(streamId: number, nodeId: string, typeUrl: string, version: string): void | Promise<void>;
  /** The proxy rejected `version` of `typeUrl` with `message` (its error_detail). */
  onNack?(
    streamId: number,
    nodeId: string,
    typeUrl: string,
    version: string,
    message: string,
  ): void | Promise<void>;
  /** The stream ended (closed, cancelled or failed). `nodeId` is "" if no request came. */
  onStreamClosed?(streamId: number, nodeId: string): void | Promise<void>;
}

/** Where the xDS server reports what a human may need to know (NACKs, failed hooks). */
export interface XdsLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
  debug?(message: string, fields?: Record<string, unknown>): void;
}

/** The default: warnings to stderr as one line of JSON each, debug dropped. */
export const stderrLogger: XdsLogger = {
  warn(message, fields) {
    process.stderr.write(
      `${JSON.stringify({ level: "warn", component: "xds", message, ...fields })}\n`,
    );
  },
};

export const silentLogger: XdsLogger = { warn() {} };

/** Callbacks with every hook present. */
export type GuardedCallbacks = { [K in keyof Callbacks]-?: NonNullable<Callbacks[K]> };

/** The same hooks, each guarded: a throw or a rejection is logged and swallowed. */
export function guardCallbacks(callbacks: Callbacks, log: XdsLogger): GuardedCallbacks {
  const guard =
    <A extends unknown[]>(name: keyof Callbacks, fn: ((...args: A) => unknown) | undefined) =>
    (...args: A): void => {
      if (!fn) return;
      const fail = (err: unknown) =>
        log.warn(
          `xDS callback ${name} failed: ${err instanceof Error ? err.message : String(err)}`,
          {
            callback: name,
          },
        );
      try {
        const result = fn.apply(callbacks, args);
        if (result instanceof Promise) result.catch(fail);
      } catch (err) {
        fail(err);
      }
    };
  return {
    onStreamOpen: guard("onStreamOpen", callbacks.onStreamOpen),
    onStreamRequest: guard("onStreamRequest", callbacks.onStreamRequest),
    onStreamResponse: guard("onStreamResponse", callbacks.onStreamResponse),
    onAck: guard("onAck", callbacks.onAck),
    onNack: guard("onNack", callbacks.onNack),
    onStreamClosed: guard("onStreamClosed", callbacks.onStreamClosed),
  };
}

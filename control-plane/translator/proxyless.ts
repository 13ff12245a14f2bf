// What a proxyless gRPC client (@grpc/grpc-js-xds and the other gRPC xDS clients) gets:
// for each HTTP-like Service port an API listener named "<host>:<port>" — the name a
// channel to xds:///<host>:<port> asks for — whose HttpConnectionManager fetches the same
// RouteConfiguration sidecars get; plaintext EDS clusters; the same assignments. No
// virtual listeners, no secrets: gRPC validates these resources strictly (router last,
// typed filter configs, ADS config sources, locality weights), and everything here passes.
//
// Only the fully qualified host is served; a channel to xds:///backend.ns:8080 finds no
// listener.

import type { XdsMessage } from "../../api/xds-proto.js";

/** The API listener of one HTTP-like Service port; `connectionManager` is shared with sidecars. */
export function apiListener(name: string, connectionManager: XdsMessage): XdsMessage {
  return { name, api_listener: { api_listener: connectionManager } };
}

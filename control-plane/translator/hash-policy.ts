// The trellis.dev/hash-on annotation on a Service: what its ring hash hashes — Istio's
// DestinationRule consistentHash.httpHeaderName ("header:x-user") or useSourceIp
// ("source-ip") — and the Envoy hash policies that carry it: on the HTTP routes to the
// Service's clusters, RouteAction.hash_policy (a header, or the connection's source IP);
// on its TCP chains, TcpProxy.hash_policy (the source IP only: a TCP connection has no
// headers). Pure; a bad value is a problem to warn about, and the routes then get none,
// so that ring hash picks a random point (Envoy's behaviour without a hash policy).

import type { XdsMessage } from "../../api/xds-proto.js";

export const HASH_ON_ANNOTATION = "trellis.dev/hash-on";

export type HashOn =
  | { readonly kind: "header"; readonly header: string }
  | { readonly kind: "source-ip" };

export type HashOnResult =
  | { readonly ok: true; readonly hashOn: HashOn }
  | { readonly ok: false; readonly problem: string };

/** An HTTP field name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function hashOnOf(value: string): HashOnResult {
  const text = value.trim();
  if (text === "source-ip") return { ok: true, hashOn: { kind: "source-ip" } };
  if (text.startsWith("header:")) {
    const header = text.slice("header:".length).trim();
    if (TOKEN.test(header))
      return { ok: true, hashOn: { kind: "header", header: header.toLowerCase() } };
    return {
      ok: false,
      problem: `${JSON.stringify(header)} is not an HTTP header name`,
    };
  }
  return {
    ok: false,
    problem: `${JSON.stringify(value)} is not header:NAME or source-ip`,
  };
}

/** RouteAction.hash_policy. */
export function routeHashPolicy(hashOn: HashOn): XdsMessage[] {
  return hashOn.kind === "header"
    ? [{ header: { header_name: hashOn.header } }]
    : [{ connection_properties: { source_ip: true } }];
}

/** TcpProxy.hash_policy (envoy.type.v3.HashPolicy), or none for a header policy. */
export function tcpHashPolicy(hashOn: HashOn): XdsMessage[] | undefined {
  return hashOn.kind === "source-ip" ? [{ source_ip: {} }] : undefined;
}

// What a ring hash hashes: the hash_policy of the matched route (RouteAction) or of the
// tcp_proxy, as Envoy evaluates it — each policy in order yields a value or nothing (a
// request header's value; the downstream connection's source IP), the values found make
// the key, and a terminal policy that yields one ends the list. No value at all, no key:
// ring hash then picks a random point, as Envoy does. Pure, over decoded resources
// (validated first: only the policies below get this far).

import { isRec } from "../../api/validate-common.js";

export type HashPolicy =
  | { readonly kind: "header"; readonly header: string; readonly terminal: boolean }
  | { readonly kind: "source-ip"; readonly terminal: boolean };

/** What a request or connection offers the policies. */
export interface HashFacts {
  /** Lower-case names; several values joined with ",". */
  readonly headers?: Readonly<Record<string, string>>;
  /** The downstream peer's address. */
  readonly sourceAddress?: string;
}

const NONE: readonly HashPolicy[] = [];

/** RouteAction.hash_policy: header and connection_properties.source_ip. */
export function routeHashPolicies(decoded: unknown): readonly HashPolicy[] {
  // Read for every request the route matches: most routes have none, and allocate nothing.
  if (!Array.isArray(decoded) || decoded.length === 0) return NONE;
  const out: HashPolicy[] = [];
  for (const p of Array.isArray(decoded) ? decoded : []) {
    if (!isRec(p)) continue;
    const terminal = p.terminal === true;
    if (isRec(p.header) && typeof p.header.header_name === "string") {
      out.push({ kind: "header", header: p.header.header_name.toLowerCase(), terminal });
    } else if (isRec(p.connection_properties) && p.connection_properties.source_ip === true) {
      out.push({ kind: "source-ip", terminal });
    }
  }
  return out;
}

/** TcpProxy.hash_policy (envoy.type.v3.HashPolicy): source_ip. */
export function tcpHashPolicies(decoded: unknown): HashPolicy[] {
  const out: HashPolicy[] = [];
  for (const p of Array.isArray(decoded) ? decoded : []) {
    if (isRec(p) && isRec(p.source_ip)) out.push({ kind: "source-ip", terminal: false });
  }
  return out;
}

/** The ring hash key, or undefined when no policy yields a value. */
export function hashKey(policies: readonly HashPolicy[], facts: HashFacts): string | undefined {
  const parts: string[] = [];
  for (const policy of policies) {
    const value =
      policy.kind === "header" ? facts.headers?.[policy.header] : facts.sourceAddress || undefined;
    if (value === undefined) continue;
    parts.push(value);
    if (policy.terminal) break;
  }
  return parts.length > 0 ? parts.join("\n") : undefined;
}

// Envoy's RBAC filter as the sidecar evaluates it: a list of policies, each a set of
// permissions (what is asked for) and principals (who asks), under an ALLOW or DENY
// action. A connection or request matches a policy when one permission and one principal
// match. ALLOW lets through only what matches a policy; DENY stops what does. Rules the
// evaluator does not know never match a principal or permission — so an unknown rule
// can only narrow an ALLOW, never widen it (and Trellis' own translator emits only these).
// Pure: the facts come from the listener (peer identity, port) or the HTTP request.

import type { XdsMessage } from "../../api/xds-proto.js";
import { compileSafeRegex } from "../xds/resources.js";

export interface AuthzFacts {
  /** The peer's SPIFFE ID from its verified certificate; undefined for plaintext. */
  readonly principal?: string;
  readonly destinationPort: number;
  /** L7 only: the method and path, and headers by lower-case name. */
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RbacVerdict {
  readonly allowed: boolean;
  /** The policy that decided, when one matched. */
  readonly policy?: string;
}

/** One RBAC filter's `rules` (an envoy.config.rbac.v3.RBAC); absent rules allow everything. */
export function evaluateRbac(rules: XdsMessage | undefined, facts: AuthzFacts): RbacVerdict {
  if (!rules) return { allowed: true };
  const deny = rules.action === "DENY" || rules.action === 1;
  const policies = (rules.policies ?? {}) as Record<string, XdsMessage>;
  for (const name of Object.keys(policies).sort()) {
    const policy = policies[name] as XdsMessage;
    const permissions = (policy.permissions ?? []) as XdsMessage[];
    const principals = (policy.principals ?? []) as XdsMessage[];
    if (
      permissions.some((p) => permission(p, facts)) &&
      principals.some((p) => principal(p, facts))
    ) {
      return { allowed: !deny, policy: name };
    }
  }
  return { allowed: deny };
}

function permission(p: XdsMessage, f: AuthzFacts): boolean {
  if (p.any === true) return true;
  if (p.and_rules) return rulesOf(p.and_rules).every((r) => permission(r, f));
  if (p.or_rules) return rulesOf(p.or_rules).some((r) => permission(r, f));
  if (p.not_rule) return !permission(p.not_rule as XdsMessage, f);
  if (p.destination_port !== undefined) return Number(p.destination_port) === f.destinationPort;
  if (p.header) return header(p.header as XdsMessage, f);
  if (p.url_path) {
    const path = (p.url_path as XdsMessage).path as XdsMessage | undefined;
    return (
      f.path !== undefined && path !== undefined && stringMatch(path, f.path.split("?")[0] ?? "")
    );
  }
  return false;
}

function principal(p: XdsMessage, f: AuthzFacts): boolean {
  if (p.any === true) return true;
  if (p.and_ids) return idsOf(p.and_ids).every((r) => principal(r, f));
  if (p.or_ids) return idsOf(p.or_ids).some((r) => principal(r, f));
  if (p.not_id) return !principal(p.not_id as XdsMessage, f);
  if (p.authenticated) {
    const name = (p.authenticated as XdsMessage).principal_name as XdsMessage | undefined;
    if (f.principal === undefined) return false;
    return name === undefined || stringMatch(name, f.principal);
  }
  if (p.header) return header(p.header as XdsMessage, f);
  return false;
}

const rulesOf = (set: unknown) => ((set as XdsMessage).rules ?? []) as XdsMessage[];
const idsOf = (set: unknown) => ((set as XdsMessage).ids ?? []) as XdsMessage[];

function header(h: XdsMessage, f: AuthzFacts): boolean {
  const name = String(h.name ?? "").toLowerCase();
  const value = name === ":method" ? f.method : name === ":path" ? f.path : f.headers?.[name];
  if (value === undefined) return h.present_match === false || h.invert_match === true;
  const matched = h.string_match ? stringMatch(h.string_match as XdsMessage, value) : true;
  return h.invert_match === true ? !matched : matched;
}

/** envoy.type.matcher.v3.StringMatcher. */
export function stringMatch(m: XdsMessage, value: string): boolean {
  const v = m.ignore_case === true ? value.toLowerCase() : value;
  const want = (s: unknown) => (m.ignore_case === true ? String(s).toLowerCase() : String(s));
  if (m.exact !== undefined) return v === want(m.exact);
  if (m.prefix !== undefined) return v.startsWith(want(m.prefix));
  if (m.suffix !== undefined) return v.endsWith(want(m.suffix));
  if (m.contains !== undefined) return v.includes(want(m.contains));
  if (m.safe_regex !== undefined) {
    const regex = String((m.safe_regex as XdsMessage).regex ?? "");
    try {
      return compileSafeRegex(regex).test(value);
    } catch {
      return false;
    }
  }
  return false;
}

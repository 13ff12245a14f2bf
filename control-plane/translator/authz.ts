// AuthorizationPolicy → Envoy RBAC (envoy.config.rbac.v3), as Istio's authz builder does it:
// one RBAC filter for the DENY policies and one for the ALLOW policies that select a pod;
// each rule becomes one Envoy Policy "ns.<ns>.<name>.rule<i>" (a Policy ORs its permissions
// and its principals separately, so two rules cannot share one without cross-matching).
//
// Conditions Trellis cannot enforce, following Istio's documented safe defaults: in ALLOW
// the whole rule never matches (less is allowed); in DENY the condition is dropped (more is
// denied). That covers HTTP-only fields (methods, paths, hosts, request.headers) on a TCP
// port, and `when` keys other than source.principal, source.namespace, request.headers[…].

import { isIP } from "node:net";
import { matchesSelector } from "../../api/labels.js";
import type { AuthorizationPolicy, AuthorizationRule } from "../../api/types.js";
import type { XdsMessage } from "../../api/xds-proto.js";
import { namespaceOf, resourceRef, type TranslateWarning } from "./model.js";
import { ROOT_NAMESPACE } from "./names.js";
import { any, cidrRange, Enum, ExtensionName, quoteRegex, Type } from "./proto.js";

export interface SelectedPolicies {
  readonly allow: readonly AuthorizationPolicy[];
  readonly deny: readonly AuthorizationPolicy[];
}

/**
 * The policies that apply to a pod: those of its namespace and of the root namespace
 * whose selector matches its labels (no selector: every pod in scope). AUDIT is ignored.
 */
export function selectPolicies(
  byNamespace: ReadonlyMap<string, readonly AuthorizationPolicy[]>,
  namespace: string | undefined,
  labels: Readonly<Record<string, string>>,
): SelectedPolicies {
  const scopes = [ROOT_NAMESPACE];
  if (namespace !== undefined && namespace !== ROOT_NAMESPACE) scopes.push(namespace);
  const allow: AuthorizationPolicy[] = [];
  const deny: AuthorizationPolicy[] = [];
  for (const scope of scopes) {
    for (const p of byNamespace.get(scope) ?? []) {
      if (p.spec.selector && !matchesSelector(p.spec.selector, labels)) continue;
      const action = p.spec.action ?? "ALLOW";
      if (action === "ALLOW") allow.push(p);
      else if (action === "DENY") deny.push(p);
    }
  }
  return { allow, deny };
}

const ANY = { any: true };
const NEVER_MATCH: XdsMessage = {
  permissions: [{ not_rule: ANY }],
  principals: [{ not_id: ANY }],
};

/** envoy.config.rbac.v3.RBAC for one action over the selected policies. */
export function rbacRules(
  policies: readonly AuthorizationPolicy[],
  action: "ALLOW" | "DENY",
  forTcp: boolean,
): XdsMessage {
  const out: Record<string, XdsMessage> = {};
  for (const policy of policies) {
    const base = `ns.${namespaceOf(policy)}.${policy.metadata.name}`;
    let added = 0;
    (policy.spec.rules ?? []).forEach((rule, i) => {
      const built = rulePolicy(rule, action, forTcp);
      if (built) {
        out[`${base}.rule${i}`] = built;
        added++;
      }
    });
    // An ALLOW policy that allows nothing still makes the ALLOW filter deny by default.
    if (added === 0 && action === "ALLOW") out[base] = NEVER_MATCH;
  }
  return { action: action === "ALLOW" ? Enum.RBAC_ALLOW : Enum.RBAC_DENY, policies: out };
}

const SUPPORTED_WHEN = /^(source\.principal|source\.namespace|request\.headers\[.+\])$/;

/** One warning per `when` condition Trellis cannot enforce (checked once per compile). */
export function authorizationWarnings(
  policies: readonly AuthorizationPolicy[],
): TranslateWarning[] {
  const out: TranslateWarning[] = [];
  for (const policy of policies) {
    const action = policy.spec.action ?? "ALLOW";
    (policy.spec.rules ?? []).forEach((rule, i) => {
      for (const w of rule.when ?? []) {
        if (SUPPORTED_WHEN.test(w.key)) continue;
        out.push({
          code: "AUTHZ_UNSUPPORTED_CONDITION",
          resource: resourceRef(policy),
          message: `rules[${i}].when: ${JSON.stringify(w.key)} is not supported (only source.principal, source.namespace, request.headers[…]): ${
            action === "DENY"
              ? "the condition is ignored, so the rule denies more"
              : "the rule never matches"
          }`,
        });
      }
    });
  }
  return out;
}

export function httpRbacFilter(rules: XdsMessage): XdsMessage {
  return { name: ExtensionName.httpRbac, typed_config: any(Type.HttpRbac, { rules }) };
}

export function networkRbacFilter(rules: XdsMessage): XdsMessage {
  return {
    name: ExtensionName.networkRbac,
    typed_config: any(Type.NetworkRbac, { stat_prefix: "tcp.", rules }),
  };
}

// ---- matchers (Istio's wildcard forms: "*", "prefix*", "*suffix", exact) ----

function wildcard(value: string, exact: (v: string) => XdsMessage, all: XdsMessage): XdsMessage {
  if (value === "*") return all;
  if (value.startsWith("*")) return { suffix: value.slice(1) };
  if (value.endsWith("*")) return { prefix: value.slice(0, -1) };
  return exact(value);
}

/** A source principal ("cluster.local/ns/x/sa/y", wildcards) → a StringMatcher on the URI SAN. */
export function principalMatcher(value: string): XdsMessage {
  if (value === "*") return { safe_regex: { regex: ".+" } };
  if (value.startsWith("*"))
    return { safe_regex: { regex: `spiffe://.*${quoteRegex(value.slice(1))}` } };
  if (value.endsWith("*")) return { prefix: `spiffe://${value.slice(0, -1)}` };
  return { exact: `spiffe://${value}` };
}

/** A source namespace (wildcards allowed) → a StringMatcher on the URI SAN. */
export function namespaceMatcher(value: string): XdsMessage {
  const ns = value.split("*").map(quoteRegex).join("[^/]*");
  return { safe_regex: { regex: `spiffe://[^/]+/ns/${ns}/sa/[^/]+` } };
}

function headerMatcher(name: string, value: string, ignoreCase = false): XdsMessage {
  if (value === "*") return { name, present_match: true };
  const m = wildcard(value, (v) => ({ exact: v }), {});
  return { name, string_match: ignoreCase ? { ...m, ignore_case: true } : m };
}

function pathMatcher(value: string): XdsMessage {
  return { path: wildcard(value, (v) => ({ exact: v }), { safe_regex: { regex: ".+" } }) };
}

function isCidr(text: string): boolean {
  const [ip = "", len, ...rest] = text.split("/");
  const bits = isIP(ip) === 6 ? 128 : isIP(ip) === 4 ? 32 : 0;
  return (
    bits > 0 &&
    rest.length === 0 &&
    (len === undefined || (/^\d+$/.test(len) && Number(len) <= bits))
  );
}

// ---- one rule ----

type Kind = "permission" | "principal";
const orOf = (kind: Kind, items: XdsMessage[]): XdsMessage =>
  items.length === 1
    ? (items[0] as XdsMessage)
    : kind === "permission"
      ? { or_rules: { rules: items } }
      : { or_ids: { ids: items } };
const andOf = (kind: Kind, items: XdsMessage[]): XdsMessage =>
  items.length === 0
    ? ANY
    : items.length === 1
      ? (items[0] as XdsMessage)
      : kind === "permission"
        ? { and_rules: { rules: items } }
        : { and_ids: { ids: items } };
const notOf = (kind: Kind, item: XdsMessage): XdsMessage =>
  kind === "permission" ? { not_rule: item } : { not_id: item };
const authenticated = (m: XdsMessage): XdsMessage => ({ authenticated: { principal_name: m } });

/** The Policy of one rule, or undefined when (in ALLOW) the rule can never match. */
function rulePolicy(
  rule: AuthorizationRule,
  action: "ALLOW" | "DENY",
  forTcp: boolean,
): XdsMessage | undefined {
  let never = false;
  /** A condition Trellis cannot apply here: ALLOW → rule never matches; DENY → ignored. */
  const skip = () => {
    if (action === "ALLOW") never = true;
  };
  const add = (
    kind: Kind,
    out: XdsMessage[],
    values: readonly string[] | undefined,
    negate: boolean,
    one: (v: string) => XdsMessage | undefined,
    httpOnly = false,
  ) => {
    if (!values?.length) return;
    if (httpOnly && forTcp) return skip();
    // A value that cannot be expressed (a bad port or CIDR): as an unsupported condition.
    const items = values.map(one);
    const valid = items.filter((m): m is XdsMessage => m !== undefined);
    if (valid.length < items.length) skip();
    if (valid.length === 0) return;
    const m = orOf(kind, valid);
    out.push(negate ? notOf(kind, m) : m);
  };

  const when: XdsMessage[] = [];
  for (const w of rule.when ?? []) {
    const header = /^request\.headers\[(.+)\]$/.exec(w.key)?.[1];
    const one =
      w.key === "source.principal"
        ? (v: string) => authenticated(principalMatcher(v))
        : w.key === "source.namespace"
          ? (v: string) => authenticated(namespaceMatcher(v))
          : header !== undefined
            ? (v: string) => ({ header: headerMatcher(header.toLowerCase(), v) })
            : undefined;
    if (!one) {
      skip();
      continue;
    }
    add("principal", when, w.values, false, one, header !== undefined);
    add("principal", when, w.notValues, true, one, header !== undefined);
  }

  const principals = (rule.from?.length ? rule.from : [undefined]).map((from) => {
    const ids = [...when];
    const s = from?.source;
    const principal = (v: string) => authenticated(principalMatcher(v));
    const namespace = (v: string) => authenticated(namespaceMatcher(v));
    const ip = (v: string) => (isCidr(v) ? { direct_remote_ip: cidrRange(v) } : undefined);
    add("principal", ids, s?.principals, false, principal);
    add("principal", ids, s?.notPrincipals, true, principal);
    add("principal", ids, s?.namespaces, false, namespace);
    add("principal", ids, s?.notNamespaces, true, namespace);
    add("principal", ids, s?.ipBlocks, false, ip);
    add("principal", ids, s?.notIpBlocks, true, ip);
    return andOf("principal", ids);
  });

  const permissions = (rule.to?.length ? rule.to : [undefined]).map((to) => {
    const rules: XdsMessage[] = [];
    const o = to?.operation;
    const method = (v: string) => ({ header: headerMatcher(":method", v) });
    const path = (v: string) => ({ url_path: pathMatcher(v) });
    const port = (v: string) =>
      /^\d{1,5}$/.test(v) && Number(v) <= 65535 ? { destination_port: Number(v) } : undefined;
    const host = (v: string) => ({ header: headerMatcher(":authority", v, true) });
    add("permission", rules, o?.methods, false, method, true);
    add("permission", rules, o?.notMethods, true, method, true);
    add("permission", rules, o?.paths, false, path, true);
    add("permission", rules, o?.notPaths, true, path, true);
    add("permission", rules, o?.ports, false, port);
    add("permission", rules, o?.notPorts, true, port);
    add("permission", rules, o?.hosts, false, host, true);
    return andOf("permission", rules);
  });

  return never ? undefined : { permissions, principals };
}

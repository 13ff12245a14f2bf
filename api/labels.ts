// Labels and label selectors with Kubernetes semantics: which objects a selector picks, and
// what a valid label key or value is. Controllers (EndpointSlices), policy code and the
// validators all decide "does this select that" here, so they cannot disagree.

import type { LabelSelector, LabelSelectorRequirement } from "./types.js";

export type Labels = Readonly<Record<string, string>> | undefined;

/**
 * A LabelSelector (Deployment.spec.selector, NetworkPolicy podSelector, …): every
 * matchLabels pair AND every matchExpressions requirement must hold. An empty selector
 * `{}` matches everything, and so does `undefined` (an absent workload selector in
 * PeerAuthentication/AuthorizationPolicy means "every workload"): callers for whom an
 * absent selector means "nothing" must check for it themselves.
 */
export function matchesSelector(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (selector === undefined) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels?.[key] !== value) return false;
  }
  return (selector.matchExpressions ?? []).every((req) => matchesRequirement(req, labels));
}

function matchesRequirement(req: LabelSelectorRequirement, labels: Labels): boolean {
  const has = labels !== undefined && Object.hasOwn(labels, req.key);
  const value = has ? labels[req.key] : undefined;
  switch (req.operator) {
    case "In":
      return has && (req.values ?? []).includes(value as string);
    case "NotIn":
      // Kubernetes: an object without the key is "not in" any set.
      return !has || !(req.values ?? []).includes(value as string);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    default:
      // Validation refuses other operators; an unknown one selects nothing.
      return false;
  }
}

/**
 * A plain label map as Service.spec.selector uses it: every pair must match. An empty or
 * absent map matches NOTHING here — a Service without a selector has user-managed
 * endpoints, so it selects no pods. Callers that want "empty matches everything" use
 * matchesSelector({ matchLabels: map }) instead.
 */
export function matchesLabelMap(map: Labels, labels: Labels): boolean {
  if (map === undefined) return false;
  const entries = Object.entries(map);
  if (entries.length === 0) return false;
  return entries.every(([key, value]) => labels?.[key] === value);
}

// ---- validation ----

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Why `key` is not a valid label (or annotation) key, or undefined when it is: an optional
 * DNS-subdomain prefix (≤253) and "/", then a name of ≤63 characters, alphanumeric at
 * both ends with "-", "_", "." inside.
 */
export function labelKeyError(key: string): string | undefined {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix.length === 0) return `the prefix before "/" in ${quote(key)} is empty`;
    if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) {
      return `the prefix ${quote(prefix)} must be a lowercase DNS subdomain (like example.com) of at most 253 characters`;
    }
  }
  if (name.length === 0) return `the name part of the key ${quote(key)} is empty`;
  if (name.length > 63) return `the name part of ${quote(key)} is longer than 63 characters`;
  if (!NAME_PART.test(name)) {
    return `${quote(name)} must consist of letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is (empty is valid). */
export function labelValueError(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63) return `the value ${quote(value)} is longer than 63 characters`;
  if (!NAME_PART.test(value)) {
    return `the value ${quote(value)} must consist of letters, digits, "-", "_" or ".", starting and ending with a letter or digit (or be empty)`;
  }
  return undefined;
}

export function isValidLabelKey(key: string): boolean {
  return labelKeyError(key) === undefined;
}

export function isValidLabelValue(value: string): boolean {
  return labelValueError(value) === undefined;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}

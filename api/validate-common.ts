// The toolkit every kind's validator is written with: a Check that walks a plain object
// (as YAML or a caller produced it), reports each problem with its field path, fills in
// defaults, and never throws; plus the checks kinds share — names, metadata, ports,
// protocols, label selectors.

import type { FieldIssue } from "./errors.js";
import { labelKeyError, labelValueError } from "./labels.js";

export type Rec = Record<string, unknown>;

/** `at("spec", "ports")` → "spec.ports"; `at("spec.ports", 0)` → "spec.ports[0]". */
export function at(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path === "" ? key : `${path}.${key}`;
}

/** A value as it appears in a message: JSON, shortened. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function isRec(v: unknown): v is Rec {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

interface Need {
  readonly required?: boolean;
}

export class Check {
  readonly issues: FieldIssue[] = [];

  add(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  private missing(v: unknown, path: string, opts: Need | undefined): boolean {
    if (v !== undefined && v !== null) return false;
    if (opts?.required) this.add(path, "is required");
    return true;
  }

  map(v: unknown, path: string, opts?: Need): Rec | undefined {
    if (this.missing(v, path, opts)) return undefined;
    if (isRec(v)) return v;
    this.add(path, `must be a mapping (key: value), got ${show(v)}`);
    return undefined;
  }

  list(
    v: unknown,
    path: string,
    opts?: Need & { max?: number; min?: number },
  ): unknown[] | undefined {
    if (this.missing(v, path, opts)) return undefined;
    if (!Array.isArray(v)) {
      this.add(path, `must be a list, got ${show(v)}`);
      return undefined;
    }
    if (opts?.min !== undefined && v.length < opts.min) {
      this.add(path, `must have at least ${opts.min} item${opts.min === 1 ? "" : "s"}`);
    }
    if (opts?.max !== undefined && v.length > opts.max) {
      this.add(path, `must have at most ${opts.max} items, has ${v.length}`);
    }
    return v;
  }

  str(v: unknown, path: string, opts?: Need & { nonEmpty?: boolean }): string | undefined {
    if (this.missing(v, path, opts)) return undefined;
    if (typeof v !== "string") {
      this.add(
        path,
        `must be a string, got ${show(v)}${typeof v === "number" ? " (quote it)" : ""}`,
      );
      return undefined;
    }
    if (opts?.nonEmpty && v === "") {
      this.add(path, "must not be empty");
      return undefined;
    }
    return v;
  }

  int(v: unknown, path: string, opts?: Need & { min?: number; max?: number }): number | undefined {
    if (this.missing(v, path, opts)) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v)) {
      this.add(path, `must be an integer, got ${show(v)}`);
      return undefined;
    }
    const { min, max } = opts ?? {};
    if ((min !== undefined && v < min) || (max !== undefined && v > max)) {
      const range =
        max === undefined
          ? `at least ${min}`
          : min === undefined
            ? `at most ${max}`
            : `from ${min} to ${max}`;
      this.add(path, `must be ${range}, got ${v}`);
      return undefined;
    }
    return v;
  }

  bool(v: unknown, path: string, opts?: Need): boolean | undefined {
    if (this.missing(v, path, opts)) return undefined;
    if (typeof v === "boolean") return v;
    this.add(path, `must be true or false, got ${show(v)}`);
    return undefined;
  }

  oneOf<T extends string>(
    v: unknown,
    allowed: readonly T[],
    path: string,
    opts?: Need,
  ): T | undefined {
    if (this.missing(v, path, opts)) return undefined;
    if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as T;
    this.add(path, `must be one of ${allowed.join(", ")}, got ${show(v)}`);
    return undefined;
  }

  /** Each item of a list that is a mapping, with its path; other items are reported. */
  maps(v: unknown, path: string, opts?: Need & { max?: number; min?: number }): [Rec, string][] {
    const out: [Rec, string][] = [];
    (this.list(v, path, opts) ?? []).forEach((item, i) => {
      const m = this.map(item, at(path, i), { required: true });
      if (m) out.push([m, at(path, i)]);
    });
    return out;
  }

  /** Each item of a list that is a string, with its path. */
  strs(
    v: unknown,
    path: string,
    opts?: Need & { nonEmpty?: boolean; max?: number; min?: number },
  ): [string, string][] {
    const out: [string, string][] = [];
    (this.list(v, path, opts) ?? []).forEach((item, i) => {
      const s = this.str(item, at(path, i), { required: true, nonEmpty: opts?.nonEmpty });
      if (s !== undefined) out.push([s, at(path, i)]);
    });
    return out;
  }
}

/** Sets `obj[key] = value` when the field is absent, so every consumer sees the default. */
export function withDefault(obj: Rec, key: string, value: unknown): void {
  if (obj[key] === undefined || obj[key] === null) obj[key] = value;
}

// ---- names ----

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function dnsLabelError(s: string): string | undefined {
  if (s.length <= 63 && DNS_LABEL.test(s)) return undefined;
  return `${show(s)} must be a DNS-1123 label: at most 63 lowercase letters, digits or "-", starting and ending with a letter or digit`;
}

export function dnsSubdomainError(s: string): string | undefined {
  if (s.length <= 253 && DNS_SUBDOMAIN.test(s)) return undefined;
  return `${show(s)} must be a DNS-1123 subdomain: at most 253 lowercase letters, digits, "-" or ".", starting and ending with a letter or digit`;
}

/** IANA_SVC_NAME: a named port (containerPort.name, a string targetPort). */
export function portNameError(s: string): string | undefined {
  const ok =
    s.length <= 15 &&
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) &&
    /[a-z]/.test(s) &&
    !s.includes("--");
  if (ok) return undefined;
  return `${show(s)} must be a port name (IANA_SVC_NAME): at most 15 lowercase letters, digits or "-", with at least one letter, no "--", not starting or ending with "-"`;
}

export function checkName(
  c: Check,
  v: unknown,
  path: string,
  rule: "label" | "subdomain",
  opts?: Need,
): string | undefined {
  const s = c.str(v, path, { ...opts, nonEmpty: true });
  if (s === undefined) return undefined;
  const err = rule === "label" ? dnsLabelError(s) : dnsSubdomainError(s);
  if (err) c.add(path, err);
  return err ? undefined : s;
}

// ---- metadata, labels, selectors ----

/** A map of labels (or a Service selector): valid keys, string values that are valid label values. */
export function checkLabelMap(c: Check, v: unknown, path: string): void {
  const m = c.map(v, path);
  if (!m) return;
  for (const [key, value] of Object.entries(m)) {
    const p = at(path, key);
    const keyErr = labelKeyError(key);
    if (keyErr) c.add(p, `invalid key: ${keyErr}`);
    const s = c.str(value, p, { required: true });
    const valueErr = s === undefined ? undefined : labelValueError(s);
    if (valueErr) c.add(p, valueErr);
  }
}

export function checkAnnotations(c: Check, v: unknown, path: string): void {
  const m = c.map(v, path);
  if (!m) return;
  let size = 0;
  for (const [key, value] of Object.entries(m)) {
    const keyErr = labelKeyError(key);
    if (keyErr) c.add(at(path, key), `invalid key: ${keyErr}`);
    const s = c.str(value, at(path, key), { required: true });
    size += key.length + (s?.length ?? 0);
  }
  if (size > 256 * 1024) c.add(path, "annotations must total at most 256 KiB");
}

const OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;

export function checkLabelSelector(
  c: Check,
  v: unknown,
  path: string,
  opts?: Need,
): Rec | undefined {
  const sel = c.map(v, path, opts);
  if (!sel) return undefined;
  checkLabelMap(c, sel.matchLabels, at(path, "matchLabels"));
  for (const [req, p] of c.maps(sel.matchExpressions, at(path, "matchExpressions"))) {
    const key = c.str(req.key, at(p, "key"), { required: true, nonEmpty: true });
    const keyErr = key === undefined ? undefined : labelKeyError(key);
    if (keyErr) c.add(at(p, "key"), keyErr);
    const op = c.oneOf(req.operator, OPERATORS, at(p, "operator"), { required: true });
    const values = c.strs(req.values, at(p, "values"));
    for (const [value, vp] of values) {
      const err = labelValueError(value);
      if (err) c.add(vp, err);
    }
    if ((op === "In" || op === "NotIn") && values.length === 0) {
      c.add(at(p, "values"), `must list at least one value for operator ${op}`);
    }
    if (
      (op === "Exists" || op === "DoesNotExist") &&
      Array.isArray(req.values) &&
      req.values.length > 0
    ) {
      c.add(at(p, "values"), `must be empty for operator ${op}`);
    }
  }
  return sel;
}

/** Istio's workload selector: `{matchLabels}` only. */
export function checkWorkloadSelector(c: Check, v: unknown, path: string): Rec | undefined {
  const sel = c.map(v, path);
  if (sel) checkLabelMap(c, sel.matchLabels, at(path, "matchLabels"));
  return sel;
}

// ---- ports ----

export const PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;

export function checkPortNumber(
  c: Check,
  v: unknown,
  path: string,
  opts?: Need,
): number | undefined {
  if (v === undefined || v === null) return c.int(v, path, opts);
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535) {
    c.add(path, `must be a port number from 1 to 65535, got ${show(v)}`);
    return undefined;
  }
  return v;
}

/** A port given as a number or an IANA_SVC_NAME (targetPort, NetworkPolicy port, probes). */
export function checkNumberOrPortName(c: Check, v: unknown, path: string): void {
  if (typeof v === "string") {
    const err = /^\d+$/.test(v)
      ? `${show(v)} is a quoted number: write the port without quotes, or use a container port's name`
      : portNameError(v);
    if (err) c.add(path, err);
    return;
  }
  checkPortNumber(c, v, path);
}

/** `protocol` of a port: TCP, UDP or SCTP, default TCP. */
export function checkProtocol(c: Check, port: Rec, path: string): void {
  withDefault(port, "protocol", "TCP");
  c.oneOf(port.protocol, PROTOCOLS, at(path, "protocol"));
}

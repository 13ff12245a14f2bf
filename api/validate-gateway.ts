// Validation and defaults for Gateway API routes (HTTPRoute, GRPCRoute), with the rules of
// the upstream CRDs (their OpenAPI limits and CEL rules): parentRefs, matches, backendRefs,
// timeouts as Gateway API Durations, retries. Defaults are written into the object so the
// translator never has to know them.

import { DurationError } from "./errors.js";
import {
  at,
  type Check,
  checkName,
  checkPortNumber,
  type Rec,
  show,
  withDefault,
} from "./validate-common.js";

export const GATEWAY_GROUP = "gateway.networking.k8s.io";

// ---- durations (GEP-2257) ----

const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** A Gateway API Duration ("10s", "1m30s", "500ms") in milliseconds; throws DurationError. */
export function parseGatewayDuration(s: string): number {
  if (typeof s !== "string" || !DURATION.test(s)) {
    throw new DurationError(
      `${show(s)} is not a Gateway API Duration: write 1 to 4 parts, each up to 5 digits and a unit h, m, s or ms, like "10s", "1m30s" or "500ms"`,
    );
  }
  let total = 0;
  for (const m of s.matchAll(/(\d+)(ms|h|m|s)/g))
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? 0);
  return total;
}

function checkDuration(c: Check, v: unknown, path: string): number | undefined {
  const s = c.str(v, path);
  if (s === undefined) return undefined;
  try {
    return parseGatewayDuration(s);
  } catch (err) {
    c.add(path, (err as Error).message);
    return undefined;
  }
}

/** The gRPC status codes by number, as GRPCRoute retry.codes names them. */
export const GRPC_STATUS_CODES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

// ---- the parts HTTPRoute and GRPCRoute share ----

const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

function checkRouteCommon(c: Check, spec: Rec, namespace: string): void {
  for (const [ref, p] of c.maps(spec.parentRefs, "spec.parentRefs", { max: 32 })) {
    // The spec's default is Gateway, so a GAMMA (mesh) route must say `kind: Service`.
    withDefault(ref, "kind", "Gateway");
    const kind = c.oneOf(ref.kind, ["Gateway", "Service"], at(p, "kind"));
    if (kind !== undefined) withDefault(ref, "group", kind === "Gateway" ? GATEWAY_GROUP : "");
    if (kind === "Gateway" && ref.group !== GATEWAY_GROUP) {
      c.add(at(p, "group"), `must be ${GATEWAY_GROUP} for a Gateway, got ${show(ref.group)}`);
    }
    if (kind === "Service" && ref.group !== "" && ref.group !== "core") {
      c.add(at(p, "group"), `must be "" (the core group) for a Service, got ${show(ref.group)}`);
    }
    checkName(c, ref.name, at(p, "name"), kind === "Service" ? "label" : "subdomain", {
      required: true,
    });
    withDefault(ref, "namespace", namespace);
    checkName(c, ref.namespace, at(p, "namespace"), "label");
    checkPortNumber(c, ref.port, at(p, "port"));
    c.str(ref.sectionName, at(p, "sectionName"));
  }
  for (const [host, p] of c.strs(spec.hostnames, "spec.hostnames", { nonEmpty: true, max: 16 })) {
    if (host.length > 253 || !HOSTNAME.test(host)) {
      c.add(
        p,
        `${show(host)} must be a lowercase hostname, optionally starting with "*." (like api.example.com)`,
      );
    }
  }
}

function checkBackendRefs(c: Check, v: unknown, path: string, namespace: string): void {
  for (const [ref, p] of c.maps(v, path, { max: 16 })) {
    withDefault(ref, "group", "");
    withDefault(ref, "kind", "Service");
    withDefault(ref, "weight", 1);
    withDefault(ref, "namespace", namespace);
    const kind = c.str(ref.kind, at(p, "kind"), { nonEmpty: true });
    const group = c.str(ref.group, at(p, "group"));
    checkName(c, ref.name, at(p, "name"), kind === "Service" ? "label" : "subdomain", {
      required: true,
    });
    checkName(c, ref.namespace, at(p, "namespace"), "label");
    c.int(ref.weight, at(p, "weight"), { min: 0, max: 1_000_000 });
    checkPortNumber(c, ref.port, at(p, "port"));
    if (kind === "Service") {
      if (group !== undefined && group !== "" && group !== "core") {
        c.add(at(p, "group"), `must be "" (the core group) for a Service, got ${show(group)}`);
      }
      if (ref.port === undefined) {
        c.add(
          at(p, "port"),
          "is required for a Service backend: say which Service port to send to",
        );
      }
    }
  }
}

function checkTimeouts(c: Check, v: unknown, path: string): void {
  const t = c.map(v, path);
  if (!t) return;
  const request = checkDuration(c, t.request, at(path, "request"));
  const backend = checkDuration(c, t.backendRequest, at(path, "backendRequest"));
  // A request timeout of 0s means "no timeout", so any backendRequest fits inside it.
  if (request !== undefined && backend !== undefined && request !== 0 && backend > request) {
    c.add(
      at(path, "backendRequest"),
      `must not be longer than request (${String(t.request)}), got ${String(t.backendRequest)}`,
    );
  }
}

function checkRegex(c: Check, value: string, path: string): void {
  try {
    new RegExp(value);
  } catch (err) {
    c.add(path, `is not a valid regular expression: ${(err as Error).message}`);
  }
}

/** Header (and query parameter) matches: valid names, unique per match, Exact by default. */
function checkNameValueMatches(c: Check, v: unknown, path: string, what: string): void {
  const seen = new Map<string, string>();
  for (const [m, p] of c.maps(v, path, { max: 16 })) {
    withDefault(m, "type", "Exact");
    const type = c.oneOf(m.type, ["Exact", "RegularExpression"], at(p, "type"));
    const name = c.str(m.name, at(p, "name"), { required: true, nonEmpty: true });
    if (name !== undefined && (name.length > 256 || !HEADER_NAME.test(name))) {
      c.add(
        at(p, "name"),
        `${show(name)} is not a valid ${what} name (letters, digits and !#$%&'*+-.^_\`|~)`,
      );
    } else if (name !== undefined) {
      const first = seen.get(name.toLowerCase());
      if (first) c.add(at(p, "name"), `duplicate ${what} match ${show(name)} (also at ${first})`);
      else seen.set(name.toLowerCase(), at(p, "name"));
    }
    const value = c.str(m.value, at(p, "value"), { required: true, nonEmpty: true });
    if (value !== undefined && value.length > 4096)
      c.add(at(p, "value"), "must be at most 4096 characters");
    if (value !== undefined && type === "RegularExpression") checkRegex(c, value, at(p, "value"));
  }
}

// ---- HTTPRoute ----

const METHODS = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
] as const;

function checkPathMatch(c: Check, path: Rec, p: string): void {
  withDefault(path, "type", "PathPrefix");
  withDefault(path, "value", "/");
  const type = c.oneOf(path.type, ["Exact", "PathPrefix", "RegularExpression"], at(p, "type"));
  const value = c.str(path.value, at(p, "value"), { nonEmpty: true });
  if (value === undefined) return;
  if (value.length > 1024) c.add(at(p, "value"), "must be at most 1024 characters");
  if (type === "RegularExpression") {
    checkRegex(c, value, at(p, "value"));
    return;
  }
  if (!value.startsWith("/")) c.add(at(p, "value"), `must start with "/", got ${show(value)}`);
  const bad = ["//", "/./", "/../", "%2f", "%2F", "#"].find((s) => value.includes(s));
  if (bad || value.endsWith("/..") || value.endsWith("/.")) {
    c.add(
      at(p, "value"),
      `${show(value)} must not contain "//", "/./", "/../", "%2f" or "#", nor end in "/." or "/.."`,
    );
  }
}

export function checkHttpRoute(c: Check, obj: Rec, namespace: string): void {
  const spec = c.map(obj.spec, "spec", { required: true });
  if (!spec) return;
  checkRouteCommon(c, spec, namespace);
  for (const [rule, p] of c.maps(spec.rules, "spec.rules", { max: 16 })) {
    checkName(c, rule.name, at(p, "name"), "label");
    if (rule.matches === undefined || (Array.isArray(rule.matches) && rule.matches.length === 0)) {
      rule.matches = [{ path: { type: "PathPrefix", value: "/" } }];
    }
    for (const [m, mp] of c.maps(rule.matches, at(p, "matches"), { max: 64 })) {
      withDefault(m, "path", { type: "PathPrefix", value: "/" });
      const path = c.map(m.path, at(mp, "path"));
      if (path) checkPathMatch(c, path, at(mp, "path"));
      checkNameValueMatches(c, m.headers, at(mp, "headers"), "header");
      checkNameValueMatches(c, m.queryParams, at(mp, "queryParams"), "query parameter");
      c.oneOf(m.method, METHODS, at(mp, "method"));
    }
    checkBackendRefs(c, rule.backendRefs, at(p, "backendRefs"), namespace);
    checkTimeouts(c, rule.timeouts, at(p, "timeouts"));
    const retry = c.map(rule.retry, at(p, "retry"));
    if (retry) {
      const codes = c.list(retry.codes, at(p, "retry.codes")) ?? [];
      for (const [i, code] of codes.entries()) {
        c.int(code, at(at(p, "retry.codes"), i), { min: 400, max: 599 });
      }
      c.int(retry.attempts, at(p, "retry.attempts"), { min: 0 });
      checkDuration(c, retry.backoff, at(p, "retry.backoff"));
    }
  }
}

// ---- GRPCRoute ----

const GRPC_SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

function checkMethodMatch(c: Check, m: Rec, p: string): void {
  withDefault(m, "type", "Exact");
  const type = c.oneOf(m.type, ["Exact", "RegularExpression"], at(p, "type"));
  const service = c.str(m.service, at(p, "service"), { nonEmpty: true });
  const method = c.str(m.method, at(p, "method"), { nonEmpty: true });
  if (m.service === undefined && m.method === undefined) {
    c.add(
      p,
      "must set service, method or both (like service: helloworld.Greeter, method: SayHello)",
    );
  }
  if (type === "RegularExpression") {
    if (service !== undefined) checkRegex(c, service, at(p, "service"));
    if (method !== undefined) checkRegex(c, method, at(p, "method"));
    return;
  }
  if (service !== undefined && (service.length > 1024 || !GRPC_SERVICE.test(service))) {
    c.add(
      at(p, "service"),
      `${show(service)} must be a fully qualified gRPC service name like helloworld.Greeter`,
    );
  }
  if (method !== undefined && (method.length > 1024 || !GRPC_METHOD.test(method))) {
    c.add(at(p, "method"), `${show(method)} must be a gRPC method name like SayHello`);
  }
}

export function checkGrpcRoute(c: Check, obj: Rec, namespace: string): void {
  const spec = c.map(obj.spec, "spec", { required: true });
  if (!spec) return;
  checkRouteCommon(c, spec, namespace);
  for (const [rule, p] of c.maps(spec.rules, "spec.rules", { max: 16 })) {
    checkName(c, rule.name, at(p, "name"), "label");
    for (const [m, mp] of c.maps(rule.matches, at(p, "matches"), { max: 64 })) {
      const method = c.map(m.method, at(mp, "method"));
      if (method) checkMethodMatch(c, method, at(mp, "method"));
      checkNameValueMatches(c, m.headers, at(mp, "headers"), "header");
    }
    checkBackendRefs(c, rule.backendRefs, at(p, "backendRefs"), namespace);
    checkTimeouts(c, rule.timeouts, at(p, "timeouts"));
    const retry = c.map(rule.retry, at(p, "retry"));
    if (retry) {
      const codes = c.list(retry.codes, at(p, "retry.codes")) ?? [];
      codes.forEach((code, i) => {
        const ok =
          (typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 16) ||
          (typeof code === "string" && (GRPC_STATUS_CODES as readonly string[]).includes(code));
        if (!ok) {
          c.add(
            at(at(p, "retry.codes"), i),
            `must be a gRPC status name (like UNAVAILABLE, RESOURCE_EXHAUSTED) or number 0–16, got ${show(code)}`,
          );
        }
      });
      c.int(retry.attempts, at(p, "retry.attempts"), { min: 0 });
      checkDuration(c, retry.backoff, at(p, "retry.backoff"));
    }
  }
}

// Validation and defaults for the mesh's security kinds in Istio's shapes:
// PeerAuthentication (mTLS mode per workload and port) and AuthorizationPolicy (who may
// call what). The rules are those istioctl validate applies to the fields Trellis reads.

import { ipFamily, parseCidr } from "./ip.js";
import {
  at,
  type Check,
  checkWorkloadSelector,
  type Rec,
  show,
  withDefault,
} from "./validate-common.js";

const MTLS_MODES = ["UNSET", "STRICT", "PERMISSIVE", "DISABLE"] as const;

export function checkPeerAuthentication(c: Check, obj: Rec): void {
  withDefault(obj, "spec", {});
  const spec = c.map(obj.spec, "spec");
  if (!spec) return;
  const selector = checkWorkloadSelector(c, spec.selector, "spec.selector");
  withDefault(spec, "mtls", {});
  const mtls = c.map(spec.mtls, "spec.mtls");
  if (mtls) {
    withDefault(mtls, "mode", "UNSET");
    c.oneOf(mtls.mode, MTLS_MODES, "spec.mtls.mode");
  }
  const ports = c.map(spec.portLevelMtls, "spec.portLevelMtls");
  if (!ports) return;
  for (const [key, value] of Object.entries(ports)) {
    const p = at("spec.portLevelMtls", key);
    const n = Number(key);
    if (!/^\d+$/.test(key) || n < 1 || n > 65535) {
      c.add(p, `keys must be port numbers from 1 to 65535, got ${show(key)}`);
    }
    const entry = c.map(value, p, { required: true });
    if (entry) {
      withDefault(entry, "mode", "UNSET");
      c.oneOf(entry.mode, MTLS_MODES, at(p, "mode"));
    }
  }
  const labels = selector?.matchLabels;
  const hasSelector =
    typeof labels === "object" && labels !== null && Object.keys(labels).length > 0;
  if (Object.keys(ports).length > 0 && !hasSelector) {
    c.add(
      "spec.portLevelMtls",
      "requires spec.selector.matchLabels: port-level mTLS applies only to selected workloads",
    );
  }
}

const SOURCE_FIELDS = [
  "principals",
  "notPrincipals",
  "namespaces",
  "notNamespaces",
  "ipBlocks",
  "notIpBlocks",
];
const OPERATION_FIELDS = [
  "methods",
  "notMethods",
  "paths",
  "notPaths",
  "ports",
  "notPorts",
  "hosts",
  "notHosts",
];

export function checkAuthorizationPolicy(c: Check, obj: Rec): void {
  withDefault(obj, "spec", {});
  const spec = c.map(obj.spec, "spec");
  if (!spec) return;
  checkWorkloadSelector(c, spec.selector, "spec.selector");
  withDefault(spec, "action", "ALLOW");
  if (spec.action === "CUSTOM") {
    c.add(
      "spec.action",
      "CUSTOM (external authorization) is not supported by Trellis: use ALLOW, DENY or AUDIT",
    );
  } else {
    c.oneOf(spec.action, ["ALLOW", "DENY", "AUDIT"], "spec.action");
  }
  for (const [rule, p] of c.maps(spec.rules, "spec.rules")) {
    for (const [from, fp] of c.maps(rule.from, at(p, "from"))) {
      const source = c.map(from.source, at(fp, "source"), { required: true });
      if (source) checkSource(c, source, at(fp, "source"));
    }
    for (const [to, tp] of c.maps(rule.to, at(p, "to"))) {
      const operation = c.map(to.operation, at(tp, "operation"), { required: true });
      if (operation) checkOperation(c, operation, at(tp, "operation"));
    }
    for (const [cond, wp] of c.maps(rule.when, at(p, "when"))) {
      c.str(cond.key, at(wp, "key"), { required: true, nonEmpty: true });
      const values = c.strs(cond.values, at(wp, "values"), { nonEmpty: true });
      const notValues = c.strs(cond.notValues, at(wp, "notValues"), { nonEmpty: true });
      if (values.length === 0 && notValues.length === 0) c.add(wp, "must set values or notValues");
    }
  }
}

function checkSource(c: Check, source: Rec, path: string): void {
  if (!SOURCE_FIELDS.some((f) => source[f] !== undefined)) {
    c.add(path, `must set at least one of ${SOURCE_FIELDS.join(", ")}`);
  }
  for (const f of ["principals", "notPrincipals", "namespaces", "notNamespaces"]) {
    c.strs(source[f], at(path, f), { nonEmpty: true });
  }
  for (const f of ["ipBlocks", "notIpBlocks"]) {
    for (const [block, p] of c.strs(source[f], at(path, f), { nonEmpty: true })) {
      if (ipFamily(block) === undefined && parseCidr(block) === undefined) {
        c.add(p, `must be an IP address or a CIDR like 10.0.0.0/8, got ${show(block)}`);
      }
    }
  }
}

function checkOperation(c: Check, op: Rec, path: string): void {
  if (!OPERATION_FIELDS.some((f) => op[f] !== undefined)) {
    c.add(path, `must set at least one of ${OPERATION_FIELDS.join(", ")}`);
  }
  for (const f of ["methods", "notMethods"]) {
    for (const [method, p] of c.strs(op[f], at(path, f), { nonEmpty: true })) {
      if (method !== "*" && !/^[A-Z][A-Z0-9_-]*$/.test(method)) {
        c.add(p, `${show(method)} must be an HTTP method in capitals, like GET or POST`);
      }
    }
  }
  for (const f of ["paths", "notPaths"]) {
    for (const [p, pp] of c.strs(op[f], at(path, f), { nonEmpty: true })) {
      const err = policyPathError(p);
      if (err) c.add(pp, err);
    }
  }
  for (const f of ["ports", "notPorts"]) {
    for (const [port, pp] of c.strs(op[f], at(path, f), { nonEmpty: true })) {
      const n = Number(port);
      if (!/^\d+$/.test(port) || n < 1 || n > 65535) {
        c.add(
          pp,
          `must be a port number from 1 to 65535 written as a string (like "8080"), got ${show(port)}`,
        );
      }
    }
  }
  for (const f of ["hosts", "notHosts"]) c.strs(op[f], at(path, f), { nonEmpty: true });
}

/** Istio's path forms: "*", exact "/a", prefix "/a/*", suffix "*.html". */
function policyPathError(p: string): string | undefined {
  if (p === "*") return undefined;
  if (p.startsWith("*") && !p.slice(1).includes("*")) return undefined;
  if (p.startsWith("/") && !p.slice(0, -1).includes("*")) return undefined;
  return `${show(p)} must be "*", an exact path "/a", a prefix "/a/*" or a suffix "*.html" (one "*" at most, at an end)`;
}

// Kubernetes YAML in, typed resources out: multi-document files (and `kind: List`), every
// problem in every document collected with its document and field path, defaults filled
// in so every consumer sees the same object. The store validates writes with the same
// code (normalizeResource), so a file, the lab's API and a controller cannot disagree.

import { parseAllDocuments } from "yaml";
import { type FieldIssue, ManifestError, type ManifestIssue } from "./errors.js";
import { CLUSTER_SCOPED, KINDS, type Kind, keyOf, type Resource } from "./types.js";
import {
  at,
  Check,
  checkAnnotations,
  checkLabelMap,
  checkName,
  isRec,
  type Rec,
  show,
  withDefault,
} from "./validate-common.js";
import { checkDeployment, checkEndpointSlice, checkPod, checkService } from "./validate-core.js";
import { checkGrpcRoute, checkHttpRoute } from "./validate-gateway.js";
import { checkNetworkPolicy } from "./validate-network.js";
import { checkAuthorizationPolicy, checkPeerAuthentication } from "./validate-security.js";

export { ManifestError, type ManifestIssue } from "./errors.js";
export { parseGatewayDuration } from "./validate-gateway.js";

const GATEWAY_VERSIONS = ["v1", "v1beta1", "v1alpha2"].map((v) => `gateway.networking.k8s.io/${v}`);
const ISTIO_VERSIONS = ["security.istio.io/v1", "security.istio.io/v1beta1"];

/** The apiVersions each kind is accepted in; the first is the one stored. */
export const API_VERSIONS: Readonly<Record<Kind, readonly string[]>> = {
  Namespace: ["v1"],
  Pod: ["v1"],
  Service: ["v1"],
  EndpointSlice: ["discovery.k8s.io/v1"],
  Deployment: ["apps/v1"],
  NetworkPolicy: ["networking.k8s.io/v1"],
  HTTPRoute: GATEWAY_VERSIONS,
  GRPCRoute: GATEWAY_VERSIONS,
  PeerAuthentication: ISTIO_VERSIONS,
  AuthorizationPolicy: ISTIO_VERSIONS,
};

/** Kinds that manifests commonly carry and Trellis has no use for: skipped, not refused. */
export const SKIPPED_KINDS: Readonly<Record<string, string>> = {
  ServiceAccount: "v1",
  ConfigMap: "v1",
  Secret: "v1",
};

type KindCheck = (c: Check, obj: Rec, namespace: string) => void;

const CHECKS: Readonly<Record<Kind, KindCheck>> = {
  Namespace: () => {},
  Pod: checkPod,
  Service: checkService,
  EndpointSlice: checkEndpointSlice,
  Deployment: checkDeployment,
  NetworkPolicy: checkNetworkPolicy,
  HTTPRoute: checkHttpRoute,
  GRPCRoute: checkGrpcRoute,
  PeerAuthentication: checkPeerAuthentication,
  AuthorizationPolicy: checkAuthorizationPolicy,
};

const LABEL_NAMED: ReadonlySet<Kind> = new Set(["Namespace", "Service"]);

interface Checked {
  readonly outcome: "resource" | "skipped" | "invalid";
  readonly issues: FieldIssue[];
  /** "Service default/web", as far as it is known. */
  readonly label: string;
  readonly kind?: string;
}

/** Checks one object, filling its defaults in place. */
function checkObject(obj: unknown): Checked {
  const c = new Check();
  if (!isRec(obj)) {
    c.add("", `a manifest must be a mapping with apiVersion, kind and metadata, got ${show(obj)}`);
    return { outcome: "invalid", issues: c.issues, label: "" };
  }
  const apiVersion = c.str(obj.apiVersion, "apiVersion", { required: true, nonEmpty: true });
  const kind = c.str(obj.kind, "kind", { required: true, nonEmpty: true });
  const meta = c.map(obj.metadata, "metadata", { required: true });
  const rawName = typeof meta?.name === "string" ? meta.name : undefined;
  if (apiVersion === undefined || kind === undefined) {
    return { outcome: "invalid", issues: c.issues, label: kind ?? "" };
  }
  if (SKIPPED_KINDS[kind] === apiVersion) {
    return {
      outcome: "skipped",
      issues: [],
      label: labelOf(kind, rawName, meta?.namespace ?? "default"),
      kind,
    };
  }
  if (!(KINDS as readonly string[]).includes(kind)) {
    const known = KINDS.map((k) => `${API_VERSIONS[k][0]} ${k}`).join(", ");
    c.add(
      "kind",
      `unsupported kind ${show(kind)} (apiVersion ${show(apiVersion)}): Trellis understands ${known}; ${Object.keys(SKIPPED_KINDS).join(", ")} are skipped`,
    );
    return { outcome: "invalid", issues: c.issues, label: labelOf(kind, rawName, meta?.namespace) };
  }
  const k = kind as Kind;
  const versions = API_VERSIONS[k];
  if (!versions.includes(apiVersion)) {
    c.add("apiVersion", `${k} needs apiVersion ${versions.join(" or ")}, got ${show(apiVersion)}`);
    return { outcome: "invalid", issues: c.issues, label: labelOf(k, rawName, meta?.namespace) };
  }
  // Every accepted version has the same shape for the fields Trellis reads; store one.
  if (k === "HTTPRoute" || k === "GRPCRoute") obj.apiVersion = versions[0];
  if (!meta) return { outcome: "invalid", issues: c.issues, label: k };

  if (meta.name === undefined && meta.generateName !== undefined) {
    c.add("metadata.name", "is required (generateName is not supported: give the object a name)");
  } else {
    checkName(c, meta.name, "metadata.name", LABEL_NAMED.has(k) ? "label" : "subdomain", {
      required: true,
    });
  }
  if (CLUSTER_SCOPED.has(k)) {
    // The API server ignores a namespace on a cluster-scoped object; so does Trellis.
    delete meta.namespace;
  } else {
    withDefault(meta, "namespace", "default");
    checkName(c, meta.namespace, "metadata.namespace", "label");
  }
  checkLabelMap(c, meta.labels, "metadata.labels");
  checkAnnotations(c, meta.annotations, "metadata.annotations");
  for (const [ref, p] of c.maps(meta.ownerReferences, "metadata.ownerReferences")) {
    for (const f of ["apiVersion", "kind", "name", "uid"])
      c.str(ref[f], at(p, f), { required: true, nonEmpty: true });
    c.bool(ref.controller, at(p, "controller"));
  }
  const namespace = typeof meta.namespace === "string" ? meta.namespace : "default";
  CHECKS[k](c, obj, namespace);
  return {
    outcome: c.issues.length === 0 ? "resource" : "invalid",
    issues: c.issues,
    label: labelOf(k, rawName, meta.namespace),
    kind: k,
  };
}

function labelOf(kind: string, name: string | undefined, namespace: unknown): string {
  if (name === undefined) return kind;
  return typeof namespace === "string" ? `${kind} ${namespace}/${name}` : `${kind} ${name}`;
}

export type NormalizeResult =
  | { readonly resource: Resource; readonly issues: readonly [] }
  | { readonly resource: undefined; readonly issues: readonly ManifestIssue[] };

/**
 * A deep copy of `obj`, checked and with defaults filled in — what the Store writes.
 * Kinds that are only skipped by parsing (ConfigMap, …) are refused here.
 */
export function normalizeResource(obj: unknown): NormalizeResult {
  const copy = structuredClone(obj);
  const checked = checkObject(copy);
  const document = checked.label || "object";
  if (checked.outcome === "resource") return { resource: copy as Resource, issues: [] };
  if (checked.outcome === "skipped") {
    const issue = { document, path: "kind", message: `${checked.kind} is not stored by Trellis` };
    return { resource: undefined, issues: [issue] };
  }
  return { resource: undefined, issues: checked.issues.map((i) => ({ document, ...i })) };
}

/** Every problem with `obj` (not changed), each naming the object like "Service default/web". */
export function validateResource(obj: unknown): ManifestIssue[] {
  return [...normalizeResource(obj).issues];
}

export interface ParseResult {
  resources: Resource[];
  skipped: { document: string; kind: string }[];
  errors: ManifestIssue[];
}

/**
 * Every document in `text` (a file named `source`): valid ones become resources with their
 * defaults; a document with any problem is left out, and all its problems are reported.
 */
export function parseManifests(text: string, source: string): ParseResult {
  const result: ParseResult = { resources: [], skipped: [], errors: [] };
  const firstSeen = new Map<string, string>();
  const take = (value: unknown, where: string): void => {
    const checked = checkObject(value);
    const document = checked.label ? `${where} (${checked.label})` : where;
    if (checked.outcome === "skipped") {
      result.skipped.push({ document, kind: checked.kind ?? "" });
    } else if (checked.outcome === "invalid") {
      for (const issue of checked.issues) result.errors.push({ document, ...issue });
    } else {
      const resource = value as Resource;
      const first = firstSeen.get(keyOf(resource));
      if (first !== undefined) {
        result.errors.push({
          document,
          path: "metadata.name",
          message: `duplicate of ${first}: an object may appear only once`,
        });
        return;
      }
      firstSeen.set(keyOf(resource), document);
      result.resources.push(resource);
    }
  };

  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) return result; // an empty stream
  docs.forEach((doc, i) => {
    const where = `${source}#${i + 1}`;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        result.errors.push({
          document: where,
          path: "",
          message: `not valid YAML: ${e.message.split("\n")[0]}`,
        });
      }
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      result.errors.push({
        document: where,
        path: "",
        message: `not valid YAML: ${(err as Error).message}`,
      });
      return;
    }
    if (value === null || value === undefined) return; // an empty document
    if (isRec(value) && value.kind === "List" && value.apiVersion === "v1") {
      if (!Array.isArray(value.items)) {
        result.errors.push({
          document: `${where} (List)`,
          path: "items",
          message: "must be a list of objects",
        });
        return;
      }
      for (const [j, item] of value.items.entries()) take(item, `${where} items[${j}]`);
      return;
    }
    take(value, where);
  });
  return result;
}

/** As parseManifests, but all or nothing: throws ManifestError (MANIFEST_INVALID) listing every problem. */
export function parseManifestsOrThrow(text: string, source: string): Resource[] {
  const result = parseManifests(text, source);
  if (result.errors.length > 0) throw new ManifestError(result.errors);
  return result.resources;
}

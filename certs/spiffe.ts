// SPIFFE IDs (spiffe://<trust-domain>/<path>) parsed and checked by the rules of the
// SPIFFE-ID specification, and the workload form Trellis issues: /ns/<namespace>/sa/<sa>.

import { CertError, type CertErrorCode } from "./errors.js";

export interface SpiffeId {
  readonly trustDomain: string;
  /** The path, starting with "/" (empty for the trust domain's own ID). */
  readonly path: string;
  readonly uri: string;
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_URI_BYTES = 2048;
const MAX_TRUST_DOMAIN = 255;

/** Why `text` is not a SPIFFE ID, or undefined when it is one. */
function spiffeIdProblem(text: string): string | undefined {
  if (!text.startsWith("spiffe://")) return "it does not start with spiffe://";
  if (Buffer.byteLength(text) > MAX_URI_BYTES) return `it is longer than ${MAX_URI_BYTES} bytes`;
  const rest = text.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  if (trustDomain === "") return "the trust domain is empty";
  if (trustDomain.length > MAX_TRUST_DOMAIN)
    return "the trust domain is longer than 255 characters";
  if (!TRUST_DOMAIN.test(trustDomain)) {
    return `the trust domain ${JSON.stringify(trustDomain)} may only hold lowercase letters, digits, '.', '-' and '_' (no port, user info or upper case)`;
  }
  if (path === "") return undefined;
  if (path.endsWith("/")) return "the path ends with '/'";
  for (const segment of path.slice(1).split("/")) {
    if (segment === "") return "the path has an empty segment ('//')";
    if (segment === "." || segment === "..") return "the path has a '.' or '..' segment";
    if (!SEGMENT.test(segment)) {
      return `the path segment ${JSON.stringify(segment)} may only hold letters, digits, '.', '-' and '_' (no query, fragment or percent-encoding)`;
    }
  }
  return undefined;
}

/** Parses a SPIFFE ID, throwing `code` (INVALID_SPIFFE_ID by default) with the reason. */
export function parseSpiffeId(text: string, code: CertErrorCode = "INVALID_SPIFFE_ID"): SpiffeId {
  const problem = spiffeIdProblem(text);
  if (problem) throw new CertError(code, `${JSON.stringify(text)} is not a SPIFFE ID: ${problem}`);
  const rest = text.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  return {
    trustDomain: slash === -1 ? rest : rest.slice(0, slash),
    path: slash === -1 ? "" : rest.slice(slash),
    uri: text,
  };
}

export function isSpiffeId(text: string): boolean {
  return spiffeIdProblem(text) === undefined;
}

export function checkTrustDomain(trustDomain: string): string {
  parseSpiffeId(`spiffe://${trustDomain}`);
  return trustDomain;
}

/** spiffe://<td>/ns/<namespace>/sa/<serviceAccount>, the identity of a Kubernetes workload. */
export function workloadSpiffeId(
  trustDomain: string,
  namespace: string,
  serviceAccount: string,
): SpiffeId {
  return parseSpiffeId(`spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`);
}

/** The namespace and service account of a workload ID, or undefined for other shapes. */
export function workloadOf(
  id: SpiffeId,
): { namespace: string; serviceAccount: string } | undefined {
  const m = id.path.match(/^\/ns\/([^/]+)\/sa\/([^/]+)$/);
  return m ? { namespace: m[1] as string, serviceAccount: m[2] as string } : undefined;
}

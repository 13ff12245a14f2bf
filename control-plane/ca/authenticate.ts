// Who is asking the CA for a certificate: the Authenticator contract (a bearer token in, a
// workload Caller out, or a coded AuthError), and the pieces every implementation shares —
// reading the token from an `authorization` header, and turning a Kubernetes
// service-account username into the caller's SPIFFE ID.

import { isCertError, workloadSpiffeId } from "../../certs/index.js";

/** An authenticated workload: the one identity the CA may sign for it. */
export interface Caller {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podName?: string;
  /** spiffe://<trust-domain>/ns/<namespace>/sa/<serviceAccount> */
  readonly spiffeId: string;
}

export interface Authenticator {
  /** The caller the token names; rejects with an AuthError saying why not. */
  authenticate(bearerToken: string): Promise<Caller>;
}

export type AuthErrorCode =
  | "TOKEN_MISSING"
  | "TOKEN_MALFORMED"
  | "TOKEN_BAD_SIGNATURE"
  | "TOKEN_EXPIRED"
  | "TOKEN_NOT_YET_VALID"
  | "TOKEN_WRONG_AUDIENCE"
  | "TOKEN_WRONG_ISSUER"
  | "TOKEN_NOT_A_SERVICE_ACCOUNT"
  | "TOKENREVIEW_FAILED"
  | "TOKEN_REJECTED";

export class AuthError extends Error {
  override readonly name = "AuthError";
  constructor(
    readonly code: AuthErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isAuthError(err: unknown, code?: AuthErrorCode): err is AuthError {
  return err instanceof AuthError && (code === undefined || err.code === code);
}

const SEND = "send the workload's token as `authorization: Bearer <token>` in the call's metadata";

/** The token in an `authorization` header value ("Bearer <token>"), or a coded refusal. */
export function bearerTokenOf(header: string | undefined): string {
  const value = header?.trim() ?? "";
  if (value === "") throw new AuthError("TOKEN_MISSING", `the call carries no token; ${SEND}`);
  const space = value.indexOf(" ");
  const scheme = space === -1 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== "bearer") {
    throw new AuthError(
      "TOKEN_MALFORMED",
      `the authorization metadata uses the scheme ${JSON.stringify(scheme.slice(0, 20))}, not Bearer; ${SEND}`,
    );
  }
  const token = space === -1 ? "" : value.slice(space + 1).trim();
  if (token === "") {
    throw new AuthError("TOKEN_MISSING", `the authorization metadata holds no token; ${SEND}`);
  }
  return token;
}

const SA_PREFIX = "system:serviceaccount:";
// Kubernetes names: a namespace is a DNS-1123 label, a service account a DNS-1123 subdomain.
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * The Caller for a Kubernetes username "system:serviceaccount:<ns>:<sa>"; anything else
 * (a user, a node, a group) is TOKEN_NOT_A_SERVICE_ACCOUNT: only workloads get SVIDs.
 */
export function callerOfServiceAccount(
  username: string,
  trustDomain: string,
  podName?: string,
): Caller {
  const parts = username.startsWith(SA_PREFIX) ? username.slice(SA_PREFIX.length).split(":") : [];
  const [namespace, serviceAccount] = parts;
  if (
    parts.length !== 2 ||
    namespace === undefined ||
    serviceAccount === undefined ||
    !NAMESPACE.test(namespace) ||
    !SERVICE_ACCOUNT.test(serviceAccount)
  ) {
    throw new AuthError(
      "TOKEN_NOT_A_SERVICE_ACCOUNT",
      `the token names ${JSON.stringify(username.slice(0, 200))}, not a service account ` +
        `(${SA_PREFIX}<namespace>:<name>); only workloads get certificates, so use the pod's ` +
        "service-account token",
    );
  }
  let spiffeId: string;
  try {
    spiffeId = workloadSpiffeId(trustDomain, namespace, serviceAccount).uri;
  } catch (err) {
    if (!isCertError(err)) throw err;
    throw new AuthError(
      "TOKEN_NOT_A_SERVICE_ACCOUNT",
      `the service account ${username} has no SPIFFE ID: ${err.message}`,
    );
  }
  return { namespace, serviceAccount, ...(podName ? { podName } : {}), spiffeId };
}

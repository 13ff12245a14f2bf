// Authenticating a workload token locally: an ES256 JWT checked against the public key
// of the token issuer the control plane trusts (the lab's, or a cluster's service-account
// issuer). Each way a token can be wrong has its own AuthError code.

import type { KeyObject } from "node:crypto";
import { createPublicKey } from "node:crypto";
import { decodeProtectedHeader, type JWTPayload, jwtVerify } from "jose";
import {
  AuthError,
  type Authenticator,
  type Caller,
  callerOfServiceAccount,
} from "./authenticate.js";
import {
  DEFAULT_TOKEN_AUDIENCE,
  DEFAULT_TOKEN_ISSUER,
  type KubernetesClaim,
  TOKEN_ALGORITHM,
} from "./tokens.js";

/** Projected service-account tokens are ~1 KiB; anything far larger is not one. */
const MAX_TOKEN_BYTES = 16 * 1024;
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;

export interface JwtAuthenticatorOptions {
  /** The issuer's key (public, or the private key itself). */
  readonly key: KeyObject;
  readonly issuer?: string;
  /** Accepted audiences: the token must name at least one. */
  readonly audience?: string | readonly string[];
  readonly trustDomain: string;
  readonly clockToleranceSeconds?: number;
  /** The clock, for tests. */
  readonly now?: () => Date;
}

const iso = (seconds: unknown): string =>
  typeof seconds === "number" ? new Date(seconds * 1000).toISOString() : "an unknown time";

interface JoseFailure {
  code?: string;
  claim?: string;
  reason?: string;
  payload?: JWTPayload;
}

export class JwtAuthenticator implements Authenticator {
  readonly #key: KeyObject;
  readonly #issuer: string;
  readonly #audiences: readonly string[];
  readonly #trustDomain: string;
  readonly #tolerance: number;
  readonly #now: () => Date;

  constructor(options: JwtAuthenticatorOptions) {
    this.#key = options.key.type === "private" ? createPublicKey(options.key) : options.key;
    this.#issuer = options.issuer ?? DEFAULT_TOKEN_ISSUER;
    const audience = options.audience ?? DEFAULT_TOKEN_AUDIENCE;
    this.#audiences = typeof audience === "string" ? [audience] : [...audience];
    this.#trustDomain = options.trustDomain;
    this.#tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
    this.#now = options.now ?? (() => new Date());
  }

  async authenticate(token: string): Promise<Caller> {
    if (token.length > MAX_TOKEN_BYTES) {
      throw new AuthError(
        "TOKEN_MALFORMED",
        `the token is ${token.length} bytes, more than a workload token's ${MAX_TOKEN_BYTES}`,
      );
    }
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch (err) {
      throw new AuthError(
        "TOKEN_MALFORMED",
        `the token is not a JWT (${(err as Error).message}); send the workload's service-account token`,
      );
    }
    if (alg !== TOKEN_ALGORITHM) {
      throw new AuthError(
        "TOKEN_BAD_SIGNATURE",
        `the token is signed with ${JSON.stringify(alg)}; only ${TOKEN_ALGORITHM} tokens from the ` +
          "control plane's token issuer are accepted",
      );
    }
    const now = this.#now();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: [TOKEN_ALGORITHM],
        issuer: this.#issuer,
        audience: [...this.#audiences],
        clockTolerance: this.#tolerance,
        currentDate: now,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (err) {
      throw this.#explain(err as JoseFailure & Error, now);
    }
    return this.#callerOf(payload);
  }

  #explain(err: JoseFailure & Error, now: Date): AuthError {
    const claims = err.payload ?? {};
    const at = `now ${now.toISOString()}`;
    switch (err.code === "ERR_JWT_CLAIM_VALIDATION_FAILED" ? `claim:${err.claim}` : err.code) {
      case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
        return new AuthError(
          "TOKEN_BAD_SIGNATURE",
          "the token's signature does not verify with the token issuer's key: it was signed by " +
            "another key (another lab or cluster?) or altered",
        );
      case "ERR_JWT_EXPIRED":
        return new AuthError(
          "TOKEN_EXPIRED",
          `the token expired at ${iso(claims.exp)} (${at}); mint a new one`,
        );
      case "claim:nbf":
        return new AuthError(
          "TOKEN_NOT_YET_VALID",
          `the token is not valid before ${iso(claims.nbf)} (${at}); check the clocks`,
        );
      case "claim:aud":
        return new AuthError(
          "TOKEN_WRONG_AUDIENCE",
          `the token is for audience ${JSON.stringify(claims.aud ?? null)}, not ` +
            `${this.#audiences.join(" or ")}; mint it with audience ${this.#audiences[0]}`,
        );
      case "claim:iss":
        return new AuthError(
          "TOKEN_WRONG_ISSUER",
          `the token was issued by ${JSON.stringify(claims.iss ?? null)}, not ` +
            `${JSON.stringify(this.#issuer)}; use a token from the control plane's token issuer`,
        );
      case "ERR_JOSE_ALG_NOT_ALLOWED":
        return new AuthError("TOKEN_BAD_SIGNATURE", `the token is refused: ${err.message}`);
      default:
        return new AuthError(
          "TOKEN_MALFORMED",
          `the token cannot be used: ${err.message}; send the workload's service-account token`,
        );
    }
  }

  #callerOf(payload: JWTPayload): Caller {
    const caller = callerOfServiceAccount(
      String(payload.sub),
      this.#trustDomain,
      podNameOf(payload),
    );
    const k8s = payload["kubernetes.io"] as Partial<KubernetesClaim> | undefined;
    if (
      k8s !== undefined &&
      ((k8s.namespace !== undefined && k8s.namespace !== caller.namespace) ||
        (k8s.serviceaccount?.name !== undefined &&
          k8s.serviceaccount.name !== caller.serviceAccount))
    ) {
      throw new AuthError(
        "TOKEN_MALFORMED",
        `the token's sub names ${caller.namespace}/${caller.serviceAccount} but its kubernetes.io ` +
          `claim names ${k8s.namespace}/${k8s.serviceaccount?.name}; mint a consistent token`,
      );
    }
    return caller;
  }
}

function podNameOf(payload: JWTPayload): string | undefined {
  const name = (payload["kubernetes.io"] as Partial<KubernetesClaim> | undefined)?.pod?.name;
  return typeof name === "string" && name !== "" ? name : undefined;
}

// The CA service: IstioCertificateService.CreateCertificate over gRPC. It reads the bearer
// token from the call's metadata, has the Authenticator say who the caller is, and has the
// CertificateAuthority sign the CSR for exactly that caller's SPIFFE ID. Every refusal is a
// gRPC status whose message starts with a stable code ("TOKEN_EXPIRED: …").

import {
  type handleUnaryCall,
  Metadata,
  type ServerUnaryCall,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { IstioCertificateRequest, IstioCertificateResponse } from "../../api/ca-proto.js";
import {
  type CertificateAuthority,
  DEFAULT_SVID_TTL_MS,
  isCertError,
  MIN_SVID_TTL_MS,
  toPem,
  workloadSpiffeId,
} from "../../certs/index.js";
import { type Authenticator, bearerTokenOf, isAuthError } from "./authenticate.js";

/** Trailing metadata that carries the refusal's code alone, for programs. */
export const ERROR_CODE_METADATA = "trellis-error-code";

export interface CaServiceOptions {
  readonly authority: CertificateAuthority;
  readonly authenticator: Authenticator;
  readonly trustDomain: string;
  /** The longest lifetime issued (default, and at most: the authority's maximum). */
  readonly maxTtlMs?: number;
  /** The lifetime when the request asks for none (default 24 h, capped by the maximum). */
  readonly defaultTtlMs?: number;
  /** One line per issuance and per refusal (default: stderr). */
  readonly log?: (line: string) => void;
}

/** A refusal: the gRPC status and the coded reason. */
class Refusal extends Error {
  constructor(
    readonly status: status,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The validity the request asks for, in ms, within [MIN, max]; undefined: the default. */
export function requestedTtlMs(
  validityDuration: string | number | undefined,
  maxTtlMs: number,
): number | undefined {
  const seconds = Number(validityDuration ?? 0);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Refusal(
      status.INVALID_ARGUMENT,
      "INVALID_TTL",
      `validity_duration ${validityDuration} is not a lifetime in seconds; send 0 for the default`,
    );
  }
  if (seconds === 0) return undefined;
  if (seconds * 1000 < MIN_SVID_TTL_MS) {
    throw new Refusal(
      status.INVALID_ARGUMENT,
      "INVALID_TTL",
      `validity_duration ${seconds}s is shorter than the minimum of ${MIN_SVID_TTL_MS / 1000}s`,
    );
  }
  return Math.min(seconds * 1000, maxTtlMs);
}

/** A CertError from signing, as the status the caller sees. */
function csrRefusal(err: { code: string; message: string }, allowed: string): Refusal {
  if (err.code === "CSR_IDENTITY_NOT_ALLOWED") {
    return new Refusal(
      status.PERMISSION_DENIED,
      err.code,
      `${err.message}, the identity the token proves; ask for that one`,
    );
  }
  if (err.code === "CSR_WRONG_TRUST_DOMAIN") {
    return new Refusal(
      status.PERMISSION_DENIED,
      err.code,
      `${err.message}; the token proves ${allowed}, so ask for that identity`,
    );
  }
  return new Refusal(
    status.INVALID_ARGUMENT,
    err.code,
    `${err.message}; send a PEM PKCS#10 CSR with one URI SAN, ${allowed}`,
  );
}

/** The implementation of caServiceDefinition() for `server.addService`. */
export function caServiceImplementation(options: CaServiceOptions): UntypedServiceImplementation {
  const { authority, authenticator, trustDomain } = options;
  if (trustDomain !== authority.trustDomain) {
    throw new Error(
      `the CA service is for trust domain ${trustDomain} but the CA signs for ${authority.trustDomain}; configure one trust domain`,
    );
  }
  const maxTtlMs = Math.min(options.maxTtlMs ?? authority.maxSvidTtlMs, authority.maxSvidTtlMs);
  const defaultTtlMs = Math.min(options.defaultTtlMs ?? DEFAULT_SVID_TTL_MS, maxTtlMs);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  async function createCertificate(
    call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>,
  ): Promise<IstioCertificateResponse> {
    const header = call.metadata.get("authorization")[0];
    const token = bearerTokenOf(typeof header === "string" ? header : header?.toString("utf8"));
    const caller = await authenticator.authenticate(token);
    const identity = workloadSpiffeId(trustDomain, caller.namespace, caller.serviceAccount).uri;
    const ttlMs = requestedTtlMs(call.request.validity_duration, maxTtlMs) ?? defaultTtlMs;
    let svid: Awaited<ReturnType<CertificateAuthority["signCsr"]>>;
    try {
      svid = await authority.signCsr(call.request.csr ?? "", { allowedIdentity: identity, ttlMs });
    } catch (err) {
      if (isCertError(err)) throw csrRefusal(err, identity);
      throw err;
    }
    const root = svid.bundle.roots[0]?.facts.der;
    const chain = [...svid.chain, ...(root ? [root] : [])].map((der) => toPem("CERTIFICATE", der));
    log(
      `ca: issued ${identity} serial=${svid.serialHex} ttl=${ttlMs / 1000}s ` +
        `notAfter=${svid.notAfter.toISOString()}${caller.podName ? ` pod=${caller.podName}` : ""} peer=${call.getPeer()}`,
    );
    return { cert_chain: chain };
  }

  const handler: handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse> = (
    call,
    callback: sendUnaryData<IstioCertificateResponse>,
  ) => {
    createCertificate(call).then(
      (response) => callback(null, response),
      (err: unknown) => {
        const refusal = asRefusal(err);
        const cause = refusal.code === "CA_INTERNAL" ? ` (${(err as Error)?.stack ?? err})` : "";
        log(`ca: refused ${refusal.code} peer=${call.getPeer()}: ${refusal.message}${cause}`);
        const metadata = new Metadata();
        metadata.set(ERROR_CODE_METADATA, refusal.code);
        callback({
          code: refusal.status,
          details: `${refusal.code}: ${refusal.message}`,
          metadata,
        });
      },
    );
  };
  return { CreateCertificate: handler };
}

function asRefusal(err: unknown): Refusal {
  if (err instanceof Refusal) return err;
  if (isAuthError(err)) {
    // The API server failing to answer is not the caller's fault: they may retry.
    const code = err.code === "TOKENREVIEW_FAILED" ? status.UNAVAILABLE : status.UNAUTHENTICATED;
    return new Refusal(code, err.code, err.message);
  }
  return new Refusal(
    status.INTERNAL,
    "CA_INTERNAL",
    "the CA failed to sign the certificate; the control plane's log has the cause",
  );
}

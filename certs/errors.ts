// Coded errors for everything certs/ refuses. The code is the stable contract
// (tests and callers switch on it); the message says what was wrong and what to do.

export type CertErrorCode =
  // CA material on disk
  | "CA_EXISTS"
  | "CA_NOT_FOUND"
  | "CA_FILE_CORRUPT"
  | "CA_KEY_MISMATCH"
  | "CA_CHAIN_MISMATCH"
  // caller input
  | "INVALID_SPIFFE_ID"
  | "INVALID_TTL"
  | "TTL_TOO_LONG"
  | "UNSUPPORTED_KEY_TYPE"
  // signing a CSR
  | "CSR_MALFORMED"
  | "CSR_BAD_SIGNATURE"
  | "CSR_WEAK_KEY"
  | "CSR_NO_URI_SAN"
  | "CSR_MULTIPLE_URI_SANS"
  | "CSR_NOT_SPIFFE"
  | "CSR_WRONG_TRUST_DOMAIN"
  | "CSR_IDENTITY_NOT_ALLOWED"
  // verifying an SVID chain
  | "SVID_MALFORMED"
  | "SVID_NOT_AN_SVID"
  | "SVID_WRONG_TRUST_DOMAIN"
  | "SVID_UNKNOWN_ROOT"
  | "SVID_EXPIRED"
  | "SVID_NOT_YET_VALID";

export class CertError extends Error {
  override readonly name = "CertError";
  constructor(
    readonly code: CertErrorCode,
    message: string,
    /** The file the error is about, when there is one. */
    readonly file?: string,
  ) {
    super(message);
  }
}

export function isCertError(err: unknown, code?: CertErrorCode): err is CertError {
  return err instanceof CertError && (code === undefined || err.code === code);
}

// Certificate signing requests: checking one before the CA signs it, and making one
// (what a workload does with its freshly generated key).

import type { KeyObject } from "node:crypto";
import { DerError } from "./der.js";
import { CertError } from "./errors.js";
import {
  publicKeyFromSpki,
  sign,
  signatureAlgorithmByOid,
  signatureAlgorithmFor,
  spkiOf,
  verify,
  weakKeyProblem,
} from "./keys.js";
import { derOf, toPem } from "./pem.js";
import { parseSpiffeId, type SpiffeId } from "./spiffe.js";
import { SVID_SUBJECT } from "./svid.js";
import { encodeCertificationRequestInfo, encodeSigned, subjectAltNameUris } from "./x509-build.js";
import { readCsr, subjectAltNames } from "./x509-read.js";

export interface CheckedCsr {
  readonly spiffeId: SpiffeId;
  readonly subjectPublicKeyInfo: Uint8Array;
}

/**
 * Checks a CSR against the one identity its caller may have. Each refusal has its own
 * code: malformed, bad signature, weak key, no / several / non-SPIFFE URI SANs, another
 * trust domain, another identity. Other SAN kinds (DNS, IP) are ignored, never signed.
 */
export async function checkCsr(
  csr: string | Uint8Array,
  expect: { readonly trustDomain: string; readonly allowedIdentity: SpiffeId },
): Promise<CheckedCsr> {
  let facts: ReturnType<typeof readCsr>;
  let publicKey: KeyObject;
  try {
    facts = readCsr(derOf(csr, "CERTIFICATE REQUEST"));
    publicKey = publicKeyFromSpki(facts.subjectPublicKeyInfo);
  } catch (err) {
    const why =
      err instanceof DerError
        ? err.message
        : `its public key cannot be read (${(err as Error).message})`;
    throw new CertError("CSR_MALFORMED", `the CSR cannot be decoded: ${why}`);
  }
  const alg = signatureAlgorithmByOid(facts.signatureAlgorithmOid);
  if (!alg || !(await verify(alg, facts.info, publicKey, facts.signature))) {
    throw new CertError(
      "CSR_BAD_SIGNATURE",
      alg
        ? "the CSR's signature does not verify with its own public key: it was altered, or signed with another key"
        : `the CSR is signed with an unsupported algorithm (${facts.signatureAlgorithmOid})`,
    );
  }
  const weak = weakKeyProblem(publicKey);
  if (weak) throw new CertError("CSR_WEAK_KEY", `the CSR's key is not accepted: ${weak}`);

  let sans: ReturnType<typeof subjectAltNames>;
  try {
    sans = subjectAltNames(facts.extensions);
  } catch (err) {
    throw new CertError(
      "CSR_MALFORMED",
      `the CSR's subjectAltName cannot be decoded: ${(err as Error).message}`,
    );
  }
  const uris = sans?.uris ?? [];
  if (uris.length === 0) {
    throw new CertError(
      "CSR_NO_URI_SAN",
      `the CSR has no URI SAN; put ${expect.allowedIdentity.uri} in one`,
    );
  }
  if (uris.length > 1) {
    throw new CertError(
      "CSR_MULTIPLE_URI_SANS",
      `the CSR has ${uris.length} URI SANs (${uris.join(", ")}); an SVID carries exactly one`,
    );
  }
  const requested = parseSpiffeId(uris[0] as string, "CSR_NOT_SPIFFE");
  if (requested.trustDomain !== expect.trustDomain) {
    throw new CertError(
      "CSR_WRONG_TRUST_DOMAIN",
      `the CSR asks for ${requested.uri}, in trust domain ${requested.trustDomain}; this CA signs for ${expect.trustDomain} only`,
    );
  }
  if (requested.uri !== expect.allowedIdentity.uri) {
    throw new CertError(
      "CSR_IDENTITY_NOT_ALLOWED",
      `the CSR asks for ${requested.uri}, but the caller may only have ${expect.allowedIdentity.uri}`,
    );
  }
  return { spiffeId: requested, subjectPublicKeyInfo: facts.subjectPublicKeyInfo };
}

/** A PEM CSR for `uris` (normally one SPIFFE ID) signed by `privateKey`, with an empty subject. */
export async function createCsr(privateKey: KeyObject, uris: readonly string[]): Promise<string> {
  const alg = signatureAlgorithmFor(privateKey);
  const info = encodeCertificationRequestInfo(SVID_SUBJECT, spkiOf(privateKey), [
    subjectAltNameUris(uris, true),
  ]);
  return toPem(
    "CERTIFICATE REQUEST",
    encodeSigned(info, alg.identifier, await sign(alg, info, privateKey)),
  );
}

// Verifying an X.509-SVID chain against a trust bundle, as a peer does after a TLS
// handshake: the result is the peer's SPIFFE ID, or a coded error saying why not.

import type { KeyObject } from "node:crypto";
import type { TrustBundle } from "./bundle.js";
import { CertError } from "./errors.js";
import { publicKeyFromSpki, signatureAlgorithmByOid, verify as verifySignature } from "./keys.js";
import { fromPem } from "./pem.js";
import type { SpiffeId } from "./spiffe.js";
import { svidIdentity } from "./svid.js";
import {
  basicConstraintsOf,
  type CertificateFacts,
  equalBytes,
  keyUsageOf,
  readCertificate,
} from "./x509-read.js";

export type VerifyResult =
  | { readonly ok: true; readonly spiffeId: SpiffeId; readonly path: readonly CertificateFacts[] }
  | { readonly ok: false; readonly error: CertError };

/** Leaf, intermediate CA, trusted root: a longer path is refused. */
const MAX_PATH_LENGTH = 5;

async function signedBy(cert: CertificateFacts, issuerKey: KeyObject): Promise<boolean> {
  const alg = signatureAlgorithmByOid(cert.signatureAlgorithmOid);
  return alg !== undefined && verifySignature(alg, cert.tbs, issuerKey, cert.signature);
}

function canSignCertificates(ca: CertificateFacts): boolean {
  const usages = keyUsageOf(ca.extensions)?.usages;
  return (
    basicConstraintsOf(ca.extensions)?.ca === true && (!usages || usages.includes("keyCertSign"))
  );
}

/** Leaf first; then up to the trusted root, or a coded error. */
async function buildPath(
  leaf: CertificateFacts,
  intermediates: readonly CertificateFacts[],
  bundle: TrustBundle,
): Promise<CertificateFacts[]> {
  const path = [leaf];
  for (let current = leaf; path.length <= MAX_PATH_LENGTH; ) {
    for (const root of bundle.roots) {
      if (
        equalBytes(root.facts.subject, current.issuer) &&
        (await signedBy(current, root.publicKey))
      ) {
        if (!equalBytes(root.facts.der, current.der)) path.push(root.facts);
        return path;
      }
    }
    let next: CertificateFacts | undefined;
    for (const candidate of intermediates) {
      if (path.includes(candidate) || !equalBytes(candidate.subject, current.issuer)) continue;
      if (!canSignCertificates(candidate)) continue;
      if (await signedBy(current, publicKeyFromSpki(candidate.subjectPublicKeyInfo))) {
        next = candidate;
        break;
      }
    }
    if (!next) {
      throw new CertError(
        "SVID_UNKNOWN_ROOT",
        path.length === 1
          ? "the certificate was not signed by any root in the trust bundle, nor by an intermediate in the chain"
          : `the chain ends at an intermediate (serial ${current.serialHex}) that no root in the trust bundle signed`,
      );
    }
    path.push(next);
    current = next;
  }
  throw new CertError(
    "SVID_UNKNOWN_ROOT",
    `no trusted root within ${MAX_PATH_LENGTH} certificates`,
  );
}

function checkValidity(path: readonly CertificateFacts[], now: Date): void {
  path.forEach((cert, i) => {
    const which =
      i === 0
        ? "the SVID"
        : i === path.length - 1
          ? "the root CA certificate"
          : "an intermediate CA certificate";
    if (now < cert.notBefore) {
      throw new CertError(
        "SVID_NOT_YET_VALID",
        `${which} is not valid before ${cert.notBefore.toISOString()} (now ${now.toISOString()}); check the clocks`,
      );
    }
    if (now > cert.notAfter) {
      throw new CertError(
        "SVID_EXPIRED",
        `${which} expired at ${cert.notAfter.toISOString()} (now ${now.toISOString()})`,
      );
    }
  });
}

/**
 * Verifies `chain` (leaf first, then any intermediates; PEM text or DER blocks) against
 * `bundle` for `expectedTrustDomain`. Checks, in order: decodable, leaf is an SVID,
 * trust domain, a signature path to a bundle root, validity of every certificate on it.
 */
export async function verifySvid(
  chain: string | readonly Uint8Array[],
  bundle: TrustBundle,
  expectedTrustDomain: string,
  options: { now?: Date } = {},
): Promise<VerifyResult> {
  try {
    let certs: CertificateFacts[];
    try {
      const blocks = typeof chain === "string" ? fromPem(chain, "CERTIFICATE") : chain;
      certs = blocks.map(readCertificate);
    } catch (err) {
      throw new CertError(
        "SVID_MALFORMED",
        `the chain cannot be decoded: ${(err as Error).message}`,
      );
    }
    const [leaf, ...intermediates] = certs;
    if (!leaf) throw new CertError("SVID_MALFORMED", "the chain holds no certificate");
    const spiffeId = svidIdentity(leaf);
    if (spiffeId.trustDomain !== expectedTrustDomain) {
      throw new CertError(
        "SVID_WRONG_TRUST_DOMAIN",
        `${spiffeId.uri} belongs to trust domain ${spiffeId.trustDomain}, not ${expectedTrustDomain}`,
      );
    }
    const path = await buildPath(leaf, intermediates, bundle);
    checkValidity(path, options.now ?? new Date());
    return { ok: true, spiffeId, path };
  } catch (err) {
    if (err instanceof CertError) return { ok: false, error: err };
    throw err;
  }
}

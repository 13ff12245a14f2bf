// What makes a certificate an X.509-SVID, in one place: the extensions Trellis puts on
// workload certificates, and the check `verify` applies to any leaf it is shown.

import { CertError } from "./errors.js";
import { Oid } from "./oids.js";
import { parseSpiffeId, type SpiffeId } from "./spiffe.js";
import {
  basicConstraints,
  encodeExtension,
  extendedKeyUsage,
  keyUsage,
  subjectAltNameUris,
} from "./x509-build.js";
import {
  basicConstraintsOf,
  type CertificateFacts,
  keyUsageOf,
  subjectAltNames,
} from "./x509-read.js";

/** The empty subject: the identity lives in the URI SAN alone, as Istio's SVIDs do. */
export const SVID_SUBJECT = Buffer.from([0x30, 0x00]);

const CONSTANT_EXTENSIONS = [
  basicConstraints(false),
  keyUsage(["digitalSignature"]),
  extendedKeyUsage([Oid.serverAuth, Oid.clientAuth]),
].map(encodeExtension);

/** Extensions of an SVID for `id`; `authorityKeyId` is the encoded AKI extension of the issuer. */
export function svidExtensions(id: SpiffeId, authorityKeyId: Uint8Array): Uint8Array[] {
  // The SAN is critical because the subject is empty (RFC 5280 4.2.1.6).
  return [
    encodeExtension(subjectAltNameUris([id.uri], true)),
    ...CONSTANT_EXTENSIONS,
    authorityKeyId,
  ];
}

/**
 * The SPIFFE ID of `leaf` if it is an X.509-SVID leaf (SPIFFE X509-SVID spec §4, §5):
 * exactly one URI SAN holding a valid SPIFFE ID with a non-root path, not a CA, and
 * KeyUsage (when present) with digitalSignature and without keyCertSign or cRLSign.
 */
export function svidIdentity(leaf: CertificateFacts): SpiffeId {
  const fail = (why: string) =>
    new CertError("SVID_NOT_AN_SVID", `the leaf certificate is not an X.509-SVID: ${why}`);
  const sans = subjectAltNames(leaf.extensions);
  if (!sans || sans.uris.length === 0) throw fail("it has no URI SAN");
  if (sans.uris.length > 1)
    throw fail(`it has ${sans.uris.length} URI SANs (${sans.uris.join(", ")})`);
  let id: SpiffeId;
  try {
    id = parseSpiffeId(sans.uris[0] as string);
  } catch (err) {
    throw fail((err as Error).message);
  }
  if (id.path === "") throw fail(`${id.uri} names a trust domain, not a workload`);
  if (basicConstraintsOf(leaf.extensions)?.ca)
    throw fail("it is a CA certificate (basicConstraints cA=true)");
  const ku = keyUsageOf(leaf.extensions);
  if (ku) {
    if (!ku.usages.includes("digitalSignature")) throw fail("its KeyUsage lacks digitalSignature");
    if (ku.usages.includes("keyCertSign") || ku.usages.includes("cRLSign")) {
      throw fail("its KeyUsage allows signing certificates or CRLs");
    }
  }
  return id;
}

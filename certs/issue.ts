// Signing certificates: the one place a TBSCertificate becomes a signed Certificate,
// shared by CA certificates (root, intermediate) and workload SVIDs.

import type { KeyObject } from "node:crypto";
import { randomBytes } from "node:crypto";
import { keyIdentifier, sign, signatureAlgorithmFor, spkiOf } from "./keys.js";
import { Oid } from "./oids.js";
import {
  authorityKeyIdentifier,
  basicConstraints,
  encodeExtension,
  encodeName,
  encodeSigned,
  encodeTbsCertificate,
  keyUsage,
  subjectKeyIdentifier,
  type TbsCertificateFields,
} from "./x509-build.js";

/** Certificates are valid this long before they were issued, for peers whose clocks run behind. */
export const CLOCK_SKEW_ALLOWANCE_MS = 60_000;

/** 16 random bytes, positive and minimally encoded as a DER INTEGER (RFC 5280: ≤ 20 octets). */
export function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x7f) | 0x40;
  return serial;
}

export async function signCertificate(
  fields: Omit<TbsCertificateFields, "signatureAlgorithm">,
  issuerKey: KeyObject,
): Promise<Buffer> {
  const alg = signatureAlgorithmFor(issuerKey);
  const tbs = encodeTbsCertificate({ ...fields, signatureAlgorithm: alg.identifier });
  return encodeSigned(tbs, alg.identifier, await sign(alg, tbs, issuerKey));
}

export interface CaCertificateRequest {
  readonly trustDomain: string;
  readonly role: "root" | "intermediate";
  readonly publicKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Omit for a self-signed root. */
  readonly issuer?: {
    readonly name: Uint8Array;
    readonly keyId: Uint8Array;
    readonly key: KeyObject;
  };
  readonly selfKey?: KeyObject;
}

/** A CA certificate: O=<trust domain>, CN naming the role and key, CA:true, keyCertSign + cRLSign. */
export async function createCaCertificate(req: CaCertificateRequest): Promise<Buffer> {
  const spki = spkiOf(req.publicKey);
  const keyId = keyIdentifier(spki);
  const subject = encodeName([
    { oid: Oid.organization, value: req.trustDomain },
    {
      oid: Oid.commonName,
      value: `Trellis ${req.role} CA ${keyId.subarray(0, 4).toString("hex")}`,
    },
  ]);
  const signer = req.issuer ?? { name: subject, keyId, key: req.selfKey };
  if (!signer.key) throw new Error("a root CA certificate needs selfKey");
  const extensions = [
    basicConstraints(true, req.role === "intermediate" ? 0 : undefined),
    keyUsage(["keyCertSign", "cRLSign"]),
    subjectKeyIdentifier(keyId),
    authorityKeyIdentifier(signer.keyId),
  ].map(encodeExtension);
  return signCertificate(
    {
      serial: randomSerial(),
      issuer: signer.name,
      notBefore: req.notBefore,
      notAfter: req.notAfter,
      subject,
      subjectPublicKeyInfo: spki,
      extensions,
    },
    signer.key,
  );
}

// Encoders for the X.509 (RFC 5280) and PKCS#10 (RFC 2986) structures Trellis issues:
// names, the extensions of CA certificates and SVIDs, TBSCertificate, Certificate and
// CertificationRequestInfo. Pure functions from fields to DER.

import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from "./der.js";
import { Oid } from "./oids.js";

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  /** The DER carried inside extnValue's OCTET STRING. */
  readonly value: Uint8Array;
}

export function encodeExtension(ext: Extension): Buffer {
  return ext.critical
    ? sequence(oid(ext.oid), boolean(true), octetString(ext.value))
    : sequence(oid(ext.oid), octetString(ext.value));
}

/** A Name with one attribute per RDN, values as UTF8String. An empty list is the empty Name. */
export function encodeName(attributes: readonly { oid: string; value: string }[]): Buffer {
  return sequence(...attributes.map((a) => set(sequence(oid(a.oid), utf8String(a.value)))));
}

export const KEY_USAGE_BITS = [
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
] as const;
export type KeyUsage = (typeof KEY_USAGE_BITS)[number];

/** KeyUsage as a DER named-bit BIT STRING: trailing zero bits dropped. */
export function keyUsage(usages: readonly KeyUsage[]): Extension {
  const bits = usages.map((u) => KEY_USAGE_BITS.indexOf(u));
  const highest = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[b >> 3] = (bytes[b >> 3] as number) | (0x80 >> (b & 7));
  const unused = 7 - (highest & 7);
  const value = Buffer.concat([Uint8Array.of(0x03, bytes.length + 1, unused), bytes]);
  return { oid: Oid.keyUsage, critical: true, value };
}

export function basicConstraints(ca: boolean, pathLength?: number): Extension {
  const parts = ca
    ? [boolean(true), ...(pathLength === undefined ? [] : [smallInteger(pathLength)])]
    : [];
  return { oid: Oid.basicConstraints, critical: true, value: sequence(...parts) };
}

export function extendedKeyUsage(oids: readonly string[]): Extension {
  return { oid: Oid.extKeyUsage, critical: false, value: sequence(...oids.map(oid)) };
}

/** RFC 5280 4.2.1.6: critical when the subject is empty. */
export function subjectAltNameUris(uris: readonly string[], critical: boolean): Extension {
  const names = uris.map((u) => implicitPrimitive(6, Buffer.from(u, "ascii")));
  return { oid: Oid.subjectAltName, critical, value: sequence(...names) };
}

export function subjectKeyIdentifier(keyId: Uint8Array): Extension {
  return { oid: Oid.subjectKeyIdentifier, critical: false, value: octetString(keyId) };
}

export function authorityKeyIdentifier(keyId: Uint8Array): Extension {
  return {
    oid: Oid.authorityKeyIdentifier,
    critical: false,
    value: sequence(implicitPrimitive(0, keyId)),
  };
}

export interface TbsCertificateFields {
  readonly serial: Uint8Array;
  /** AlgorithmIdentifier DER of the signature the issuer will make. */
  readonly signatureAlgorithm: Uint8Array;
  readonly issuer: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject: Uint8Array;
  readonly subjectPublicKeyInfo: Uint8Array;
  /** Already-encoded Extension DERs, so constant ones can be built once. */
  readonly extensions: readonly Uint8Array[];
}

const VERSION_3 = explicit(0, smallInteger(2));

export function encodeTbsCertificate(f: TbsCertificateFields): Buffer {
  return sequence(
    VERSION_3,
    unsignedInteger(f.serial),
    f.signatureAlgorithm,
    f.issuer,
    sequence(time(f.notBefore), time(f.notAfter)),
    f.subject,
    f.subjectPublicKeyInfo,
    explicit(3, sequence(...f.extensions)),
  );
}

export function encodeSigned(
  tbs: Uint8Array,
  signatureAlgorithm: Uint8Array,
  signature: Uint8Array,
): Buffer {
  return sequence(tbs, signatureAlgorithm, bitString(signature));
}

/** CertificationRequestInfo with its extensions in one extensionRequest attribute. */
export function encodeCertificationRequestInfo(
  subject: Uint8Array,
  subjectPublicKeyInfo: Uint8Array,
  extensions: readonly Extension[],
): Buffer {
  const extensionRequest = sequence(
    oid(Oid.extensionRequest),
    set(sequence(...extensions.map(encodeExtension))),
  );
  return sequence(smallInteger(0), subject, subjectPublicKeyInfo, explicit(0, extensionRequest));
}

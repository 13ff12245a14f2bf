// Decoders for certificates and CSRs down to the facts Trellis checks: names and keys as
// raw DER (compared byte for byte), validity, and the extensions that make an SVID.
// Throws DerError on anything malformed; callers map that to their own error code.

import {
  children,
  content,
  DerError,
  decodeBitString,
  decodeBoolean,
  decodeOid,
  decodeTime,
  expectTag,
  type Node,
  readWhole,
  Tag,
  whole,
} from "./der.js";
import { Oid } from "./oids.js";
import { KEY_USAGE_BITS, type KeyUsage } from "./x509-build.js";

export interface ParsedExtension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

export interface CertificateFacts {
  readonly der: Uint8Array;
  readonly tbs: Uint8Array;
  readonly serialHex: string;
  readonly signatureAlgorithmOid: string;
  readonly signature: Uint8Array;
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subjectPublicKeyInfo: Uint8Array;
  readonly extensions: readonly ParsedExtension[];
}

export interface CsrFacts {
  /** CertificationRequestInfo, the bytes the signature covers. */
  readonly info: Uint8Array;
  readonly subject: Uint8Array;
  readonly subjectPublicKeyInfo: Uint8Array;
  readonly signatureAlgorithmOid: string;
  readonly signature: Uint8Array;
  readonly extensions: readonly ParsedExtension[];
}

function algorithmOid(node: Node | undefined, what: string): string {
  const [id] = children(expectTag(node, Tag.SEQUENCE, what));
  return decodeOid(expectTag(id, Tag.OID, `${what}.algorithm`));
}

function signatureBits(node: Node | undefined): Uint8Array {
  const { bytes, unusedBits } = decodeBitString(expectTag(node, Tag.BIT_STRING, "signature"));
  if (unusedBits !== 0) throw new DerError("signature BIT STRING has unused bits");
  return bytes;
}

function parseExtensions(list: Node): ParsedExtension[] {
  const seen = new Set<string>();
  return children(expectTag(list, Tag.SEQUENCE, "extensions")).map((ext, i) => {
    const parts = children(expectTag(ext, Tag.SEQUENCE, `extensions[${i}]`));
    const id = decodeOid(expectTag(parts[0], Tag.OID, `extensions[${i}].extnID`));
    const critical = parts.length === 3 ? decodeBoolean(parts[1] as Node) : false;
    const value = content(
      expectTag(parts[parts.length - 1], Tag.OCTET_STRING, `extensions[${i}].extnValue`),
    );
    if (seen.has(id)) throw new DerError(`extension ${id} appears twice`);
    seen.add(id);
    return { oid: id, critical, value };
  });
}

export function readCertificate(der: Uint8Array): CertificateFacts {
  const [tbsNode, sigAlg, sig] = children(expectTag(readWhole(der), Tag.SEQUENCE, "Certificate"));
  const tbs = expectTag(tbsNode, Tag.SEQUENCE, "tbsCertificate");
  const fields = children(tbs);
  if (fields[0]?.tag === 0xa0) fields.shift(); // version; v1 certificates simply have no extensions
  const [serial, innerSigAlg, issuer, validity, subject, spki, ...optional] = fields;
  const [notBefore, notAfter] = children(expectTag(validity, Tag.SEQUENCE, "validity"));
  const outerOid = algorithmOid(sigAlg, "signatureAlgorithm");
  if (algorithmOid(innerSigAlg, "tbsCertificate.signature") !== outerOid) {
    throw new DerError("the two signature algorithm fields disagree");
  }
  const extList = optional.find((n) => n.tag === 0xa3);
  return {
    der,
    tbs: whole(tbs),
    serialHex: Buffer.from(content(expectTag(serial, Tag.INTEGER, "serialNumber"))).toString("hex"),
    signatureAlgorithmOid: outerOid,
    signature: signatureBits(sig),
    issuer: whole(expectTag(issuer, Tag.SEQUENCE, "issuer")),
    subject: whole(expectTag(subject, Tag.SEQUENCE, "subject")),
    notBefore: decodeTime(notBefore as Node),
    notAfter: decodeTime(notAfter as Node),
    subjectPublicKeyInfo: whole(expectTag(spki, Tag.SEQUENCE, "subjectPublicKeyInfo")),
    extensions: extList ? parseExtensions(children(extList)[0] as Node) : [],
  };
}

export function readCsr(der: Uint8Array): CsrFacts {
  const [infoNode, sigAlg, sig] = children(
    expectTag(readWhole(der), Tag.SEQUENCE, "CertificationRequest"),
  );
  const info = expectTag(infoNode, Tag.SEQUENCE, "certificationRequestInfo");
  const [version, subject, spki, attributes] = children(info);
  if (content(expectTag(version, Tag.INTEGER, "version"))[0] !== 0)
    throw new DerError("CSR version is not 1");
  let extensions: ParsedExtension[] = [];
  for (const attr of attributes ? children(expectTag(attributes, 0xa0, "attributes")) : []) {
    const [type, values] = children(expectTag(attr, Tag.SEQUENCE, "attribute"));
    if (decodeOid(expectTag(type, Tag.OID, "attribute.type")) !== Oid.extensionRequest) continue;
    const [first] = children(expectTag(values, Tag.SET, "extensionRequest values"));
    extensions = parseExtensions(expectTag(first, Tag.SEQUENCE, "extensionRequest"));
  }
  return {
    info: whole(info),
    subject: whole(expectTag(subject, Tag.SEQUENCE, "subject")),
    subjectPublicKeyInfo: whole(expectTag(spki, Tag.SEQUENCE, "subjectPublicKeyInfo")),
    signatureAlgorithmOid: algorithmOid(sigAlg, "signatureAlgorithm"),
    signature: signatureBits(sig),
    extensions,
  };
}

const find = (exts: readonly ParsedExtension[], id: string) => exts.find((e) => e.oid === id);

export interface SubjectAltNames {
  readonly critical: boolean;
  readonly uris: string[];
  readonly dnsNames: string[];
  /** How many names of other kinds (email, IP, directory…) there were. */
  readonly others: number;
}

export function subjectAltNames(exts: readonly ParsedExtension[]): SubjectAltNames | undefined {
  const ext = find(exts, Oid.subjectAltName);
  if (!ext) return undefined;
  const uris: string[] = [];
  const dnsNames: string[] = [];
  let others = 0;
  for (const name of children(expectTag(readWhole(ext.value), Tag.SEQUENCE, "GeneralNames"))) {
    const text = Buffer.from(content(name)).toString("latin1");
    if (name.tag === 0x86) uris.push(text);
    else if (name.tag === 0x82) dnsNames.push(text);
    else others++;
  }
  return { critical: ext.critical, uris, dnsNames, others };
}

export function basicConstraintsOf(
  exts: readonly ParsedExtension[],
): { critical: boolean; ca: boolean; pathLength?: number } | undefined {
  const ext = find(exts, Oid.basicConstraints);
  if (!ext) return undefined;
  const parts = children(expectTag(readWhole(ext.value), Tag.SEQUENCE, "BasicConstraints"));
  const ca = parts[0]?.tag === Tag.BOOLEAN ? decodeBoolean(parts[0]) : false;
  const lenNode = parts.find((p) => p.tag === Tag.INTEGER);
  const pathLength = lenNode ? content(lenNode).reduce((n, b) => n * 256 + b, 0) : undefined;
  return pathLength === undefined
    ? { critical: ext.critical, ca }
    : { critical: ext.critical, ca, pathLength };
}

export function keyUsageOf(
  exts: readonly ParsedExtension[],
): { critical: boolean; usages: KeyUsage[] } | undefined {
  const ext = find(exts, Oid.keyUsage);
  if (!ext) return undefined;
  const { bytes } = decodeBitString(readWhole(ext.value));
  const usages = KEY_USAGE_BITS.filter(
    (_, bit) => ((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0,
  );
  return { critical: ext.critical, usages };
}

export function extendedKeyUsagesOf(exts: readonly ParsedExtension[]): string[] | undefined {
  const ext = find(exts, Oid.extKeyUsage);
  if (!ext) return undefined;
  return children(expectTag(readWhole(ext.value), Tag.SEQUENCE, "ExtKeyUsageSyntax")).map(
    decodeOid,
  );
}

export function subjectKeyIdOf(exts: readonly ParsedExtension[]): Uint8Array | undefined {
  const ext = find(exts, Oid.subjectKeyIdentifier);
  return ext
    ? content(expectTag(readWhole(ext.value), Tag.OCTET_STRING, "SubjectKeyIdentifier"))
    : undefined;
}

export function authorityKeyIdOf(exts: readonly ParsedExtension[]): Uint8Array | undefined {
  const ext = find(exts, Oid.authorityKeyIdentifier);
  if (!ext) return undefined;
  const keyId = children(
    expectTag(readWhole(ext.value), Tag.SEQUENCE, "AuthorityKeyIdentifier"),
  ).find((n) => n.tag === 0x80);
  return keyId ? content(keyId) : undefined;
}

export const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

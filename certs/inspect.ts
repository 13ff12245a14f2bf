// A readable summary of a certificate: what `trellis ca inspect` prints.

import { X509Certificate } from "node:crypto";
import { formatDuration } from "./duration.js";
import { describeKey, publicKeyFromSpki } from "./keys.js";
import { Oid } from "./oids.js";
import { isSpiffeId } from "./spiffe.js";
import {
  basicConstraintsOf,
  extendedKeyUsagesOf,
  keyUsageOf,
  readCertificate,
  subjectAltNames,
} from "./x509-read.js";

const EKU_NAMES: Record<string, string> = {
  [Oid.serverAuth]: "serverAuth",
  [Oid.clientAuth]: "clientAuth",
};

export function describeCertificate(der: Uint8Array, now: Date = new Date()): string {
  const facts = readCertificate(der);
  const native = new X509Certificate(der);
  const sans = subjectAltNames(facts.extensions);
  const bc = basicConstraintsOf(facts.extensions);
  const ku = keyUsageOf(facts.extensions);
  const eku = extendedKeyUsagesOf(facts.extensions);
  const spiffe = sans?.uris.filter(isSpiffeId) ?? [];
  const left = facts.notAfter.getTime() - now.getTime();
  const state =
    now < facts.notBefore
      ? "not yet valid"
      : left < 0
        ? `expired ${formatDuration(-left)} ago`
        : `valid, ${formatDuration(left)} left`;
  const rows: [string, string][] = [
    ["Subject", (native.subject ?? "").replaceAll("\n", ", ") || "(empty)"],
    ["Issuer", (native.issuer ?? "").replaceAll("\n", ", ") || "(empty)"],
    ["Serial", facts.serialHex],
    ["Not before", facts.notBefore.toISOString()],
    ["Not after", `${facts.notAfter.toISOString()} (${state})`],
    ["Key", describeKey(publicKeyFromSpki(facts.subjectPublicKeyInfo))],
  ];
  if (spiffe.length) rows.push(["SPIFFE ID", spiffe.join(", ")]);
  if (sans) {
    const names = [...sans.uris.map((u) => `URI:${u}`), ...sans.dnsNames.map((d) => `DNS:${d}`)];
    if (sans.others) names.push(`(${sans.others} other)`);
    rows.push(["SANs", `${names.join(", ")}${sans.critical ? " [critical]" : ""}`]);
  }
  if (bc)
    rows.push([
      "CA",
      `${bc.ca ? "yes" : "no"}${bc.pathLength !== undefined ? `, path length ${bc.pathLength}` : ""}${bc.critical ? " [critical]" : ""}`,
    ]);
  if (ku) rows.push(["Key usage", `${ku.usages.join(", ")}${ku.critical ? " [critical]" : ""}`]);
  if (eku) rows.push(["Extended key usage", eku.map((o) => EKU_NAMES[o] ?? o).join(", ")]);
  rows.push(["SHA-256", native.fingerprint256]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join("\n");
}

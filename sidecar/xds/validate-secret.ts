// Secret validation: a workload certificate with its key, or a validation context whose
// trusted roots parse. The material must be inline; the sidecar does not read files or
// environment variables the control plane names.

import { createPrivateKey, X509Certificate } from "node:crypto";
import { at, type Rec } from "../../api/validate-common.js";
import { fromPem } from "../../certs/index.js";
import { exactlyOne, nonEmpty, type XdsCheck } from "./validate-shared.js";

export function checkSecret(c: XdsCheck, secret: Rec): void {
  nonEmpty(c, secret.name, "name");
  const which = exactlyOne(c, secret, ["tls_certificate", "validation_context"], "", [
    "session_ticket_keys",
    "generic_secret",
  ]);
  if (which === "validation_context") {
    const context = secret.validation_context as Rec;
    // Without trusted roots a validation context verifies nothing: any peer would pass.
    const caPath = "validation_context.trusted_ca";
    const ca = c.map(context.trusted_ca, caPath, { required: true });
    const pem = ca && inlineText(c, ca, caPath);
    if (pem) checkCertificates(c, pem.text, pem.path);
  }
  if (which === "tls_certificate") {
    const certificate = secret.tls_certificate as Rec;
    const chainPath = "tls_certificate.certificate_chain";
    const chain = c.map(certificate.certificate_chain, chainPath, { required: true });
    const chainPem = chain && inlineText(c, chain, chainPath);
    if (chainPem) checkCertificates(c, chainPem.text, chainPem.path);
    const keyPath = "tls_certificate.private_key";
    const key = c.map(certificate.private_key, keyPath, { required: true });
    const keyPem = key && inlineText(c, key, keyPath);
    if (keyPem) checkPrivateKey(c, keyPem.text, keyPem.path);
  }
}

/** The text of a DataSource and the path of the field it came from. */
function inlineText(c: XdsCheck, source: Rec, path: string) {
  if (typeof source.inline_string === "string") {
    return { text: source.inline_string, path: at(path, "inline_string") };
  }
  if (source.inline_bytes instanceof Uint8Array) {
    return {
      text: Buffer.from(source.inline_bytes).toString("utf8"),
      path: at(path, "inline_bytes"),
    };
  }
  c.add(
    path,
    "must be inline_bytes or inline_string: the sidecar reads no files the control plane names",
  );
  return undefined;
}

/** PEM with one or more certificates (a bundle holds several roots during a rotation). */
function checkCertificates(c: XdsCheck, pem: string, path: string): void {
  let blocks: Buffer[];
  try {
    blocks = fromPem(pem, "CERTIFICATE");
  } catch (err) {
    c.add(path, `is not PEM: ${errorText(err)}`);
    return;
  }
  if (blocks.length === 0) c.add(path, "has no PEM CERTIFICATE block");
  blocks.forEach((der, i) => {
    try {
      new X509Certificate(der);
    } catch (err) {
      c.add(path, `certificate ${i + 1} of ${blocks.length} does not parse: ${errorText(err)}`);
    }
  });
}

function checkPrivateKey(c: XdsCheck, pem: string, path: string): void {
  try {
    createPrivateKey({ key: pem, format: "pem" });
  } catch (err) {
    // Node's message names the decoder's complaint, never the key's bytes.
    c.add(path, `is not a PEM private key: ${errorText(err)}`);
  }
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

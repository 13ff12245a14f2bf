// A trust bundle: the root certificates a workload trusts. During a root rotation it
// holds the new root and the old one, until every leaf the old root signed has expired.

import type { KeyObject } from "node:crypto";
import { DerError } from "./der.js";
import { publicKeyFromSpki } from "./keys.js";
import { fromPem, toPem } from "./pem.js";
import { type CertificateFacts, readCertificate } from "./x509-read.js";

export interface TrustedRoot {
  readonly facts: CertificateFacts;
  readonly publicKey: KeyObject;
}

export class TrustBundle {
  readonly roots: readonly TrustedRoot[];

  constructor(rootsDer: readonly Uint8Array[]) {
    this.roots = rootsDer.map((der) => {
      const facts = readCertificate(der);
      return { facts, publicKey: publicKeyFromSpki(facts.subjectPublicKeyInfo) };
    });
  }

  static fromPem(pem: string): TrustBundle {
    const blocks = fromPem(pem, "CERTIFICATE");
    if (blocks.length === 0) throw new DerError("the trust bundle holds no CERTIFICATE block");
    return new TrustBundle(blocks);
  }

  toPem(): string {
    return this.roots.map((r) => toPem("CERTIFICATE", r.facts.der)).join("");
  }

  /** The roots in the DER form node:tls takes as `ca`. */
  toDer(): Buffer[] {
    return this.roots.map((r) => Buffer.from(r.facts.der));
  }
}

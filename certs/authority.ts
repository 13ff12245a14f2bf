// The certificate authority in memory: a root, an optional intermediate that signs
// workload SVIDs, and the roots retired by rotation that stay trusted for a while.
// It knows nothing of files (see ca-store.ts) or of who a caller is (the caller says
// which identity it has authorized, and the CA signs that identity or nothing).

import type { KeyObject } from "node:crypto";
import { TrustBundle } from "./bundle.js";
import { checkCsr, createCsr } from "./csr.js";
import { CertError } from "./errors.js";
import {
  CLOCK_SKEW_ALLOWANCE_MS,
  createCaCertificate,
  randomSerial,
  signCertificate,
} from "./issue.js";
import { generateKeyPair, type KeyType, keyIdentifier, privateKeyToPem } from "./keys.js";
import { toPem } from "./pem.js";
import { checkTrustDomain, parseSpiffeId, type SpiffeId } from "./spiffe.js";
import { SVID_SUBJECT, svidExtensions } from "./svid.js";
import { authorityKeyIdentifier, encodeExtension } from "./x509-build.js";
import { type CertificateFacts, readCertificate, subjectKeyIdOf } from "./x509-read.js";

const DAY = 86_400_000;
export const DEFAULT_SVID_TTL_MS = DAY;
export const DEFAULT_MAX_SVID_TTL_MS = 7 * DAY;
export const MIN_SVID_TTL_MS = 10_000;
const ROOT_TTL_MS = 3650 * DAY;
const INTERMEDIATE_TTL_MS = 1825 * DAY;

export interface CaKeyPair {
  readonly cert: Uint8Array;
  readonly key: KeyObject;
}

/** Everything a CA is; what ca-store.ts persists. */
export interface CaMaterial {
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly maxSvidTtlMs: number;
  readonly root: CaKeyPair;
  readonly intermediate?: CaKeyPair;
  /** Earlier roots, trusted until every SVID they could have signed has expired. */
  readonly retiredRoots: readonly { readonly cert: Uint8Array; readonly retainUntil: Date }[];
}

export interface CaInitOptions {
  readonly trustDomain?: string;
  readonly keyType?: KeyType;
  readonly intermediate?: boolean;
  readonly maxSvidTtlMs?: number;
  readonly now?: Date;
}

export interface IssuedSvid {
  readonly spiffeId: string;
  /** The leaf, DER. */
  readonly certificate: Buffer;
  /** Leaf first, then intermediates; not the root. */
  readonly chain: readonly Uint8Array[];
  /** The trusted roots at the time of issue. */
  readonly bundle: TrustBundle;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialHex: string;
}

export const svidPem = (svid: IssuedSvid) => ({
  cert: toPem("CERTIFICATE", svid.certificate),
  chain: svid.chain.map((c) => toPem("CERTIFICATE", c)).join(""),
  bundle: svid.bundle.toPem(),
});

export function checkTtl(ttlMs: number, maxMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs < MIN_SVID_TTL_MS) {
    throw new CertError(
      "INVALID_TTL",
      `a certificate lifetime must be at least ${MIN_SVID_TTL_MS / 1000}s`,
    );
  }
  if (ttlMs > maxMs) {
    throw new CertError(
      "TTL_TOO_LONG",
      `the requested lifetime ${ttlMs / 1000}s is longer than this CA's maximum of ${maxMs / 1000}s`,
    );
  }
  return ttlMs;
}

async function createCaPair(
  trustDomain: string,
  keyType: KeyType,
  now: Date,
  intermediate: boolean,
): Promise<{ root: CaKeyPair; intermediate?: CaKeyPair }> {
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_ALLOWANCE_MS);
  const rootKeys = await generateKeyPair(keyType);
  const rootCert = await createCaCertificate({
    trustDomain,
    role: "root",
    publicKey: rootKeys.publicKey,
    selfKey: rootKeys.privateKey,
    notBefore,
    notAfter: new Date(now.getTime() + ROOT_TTL_MS),
  });
  const root = { cert: rootCert, key: rootKeys.privateKey };
  if (!intermediate) return { root };
  const rootFacts = readCertificate(rootCert);
  const intKeys = await generateKeyPair(keyType);
  const intCert = await createCaCertificate({
    trustDomain,
    role: "intermediate",
    publicKey: intKeys.publicKey,
    issuer: {
      name: rootFacts.subject,
      keyId: keyIdentifier(rootFacts.subjectPublicKeyInfo),
      key: rootKeys.privateKey,
    },
    notBefore,
    notAfter: new Date(Math.min(now.getTime() + INTERMEDIATE_TTL_MS, rootFacts.notAfter.getTime())),
  });
  return { root, intermediate: { cert: intCert, key: intKeys.privateKey } };
}

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly maxSvidTtlMs: number;
  #material: CaMaterial;
  // The bundle is rebuilt only when the material changes or a retired root's window ends.
  #bundle?: { value: TrustBundle; validFrom: number; validUntil: number };
  // Derived from the signing CA once, so that issuing an SVID touches nothing else.
  #signer!: {
    key: KeyObject;
    facts: CertificateFacts;
    authorityKeyId: Buffer;
    chainTail: Uint8Array[];
  };

  constructor(material: CaMaterial) {
    this.trustDomain = checkTrustDomain(material.trustDomain);
    this.keyType = material.keyType;
    this.maxSvidTtlMs = material.maxSvidTtlMs;
    this.#material = material;
    this.#useMaterial(material);
  }

  #useMaterial(material: CaMaterial): void {
    this.#material = material;
    this.#bundle = undefined;
    const signing = material.intermediate ?? material.root;
    const facts = readCertificate(signing.cert);
    const keyId = subjectKeyIdOf(facts.extensions) ?? keyIdentifier(facts.subjectPublicKeyInfo);
    this.#signer = {
      key: signing.key,
      facts,
      authorityKeyId: encodeExtension(authorityKeyIdentifier(keyId)),
      chainTail: material.intermediate ? [material.intermediate.cert] : [],
    };
  }

  /** A new CA in memory (persist it with ca-store's initCaDir). */
  static async create(options: CaInitOptions = {}): Promise<CertificateAuthority> {
    const trustDomain = checkTrustDomain(options.trustDomain ?? "cluster.local");
    const keyType = options.keyType ?? "ec-p256";
    const pair = await createCaPair(
      trustDomain,
      keyType,
      options.now ?? new Date(),
      options.intermediate ?? false,
    );
    return new CertificateAuthority({
      trustDomain,
      keyType,
      maxSvidTtlMs: options.maxSvidTtlMs ?? DEFAULT_MAX_SVID_TTL_MS,
      ...pair,
      retiredRoots: [],
    });
  }

  get material(): CaMaterial {
    return this.#material;
  }

  /** The current root and every retired root still inside its retention window. */
  trustBundle(now: Date = new Date()): TrustBundle {
    const t = now.getTime();
    const cached = this.#bundle;
    if (cached && t >= cached.validFrom && t < cached.validUntil) return cached.value;
    const ends = this.#material.retiredRoots.map((r) => r.retainUntil.getTime());
    const retained = this.#material.retiredRoots.filter((r) => r.retainUntil.getTime() > t);
    const value = new TrustBundle([this.#material.root.cert, ...retained.map((r) => r.cert)]);
    // The same roots are trusted from the last window that ended up to the next one that ends.
    this.#bundle = {
      value,
      validFrom: Math.max(-Infinity, ...ends.filter((e) => e <= t)),
      validUntil: Math.min(Infinity, ...ends.filter((e) => e > t)),
    };
    return value;
  }

  /** Signs `csr` if it asks for exactly `allowedIdentity` (the caller's authorization decision). */
  async signCsr(
    csr: string | Uint8Array,
    options: { allowedIdentity: string; ttlMs?: number; now?: Date },
  ): Promise<IssuedSvid> {
    const allowed = parseSpiffeId(options.allowedIdentity);
    const ttlMs = checkTtl(options.ttlMs ?? DEFAULT_SVID_TTL_MS, this.maxSvidTtlMs);
    const checked = await checkCsr(csr, {
      trustDomain: this.trustDomain,
      allowedIdentity: allowed,
    });
    return this.#issue(
      checked.spiffeId,
      checked.subjectPublicKeyInfo,
      ttlMs,
      options.now ?? new Date(),
    );
  }

  /** Generates a key pair and an SVID for it: for tools and tests that hold no key of their own. */
  async issue(options: {
    spiffeId: string;
    ttlMs?: number;
    keyType?: KeyType;
    now?: Date;
  }): Promise<IssuedSvid & { privateKeyPem: string }> {
    const id = parseSpiffeId(options.spiffeId);
    const keys = await generateKeyPair(options.keyType ?? "ec-p256");
    const svid = await this.signCsr(await createCsr(keys.privateKey, [id.uri]), {
      ...options,
      allowedIdentity: id.uri,
    });
    return { ...svid, privateKeyPem: privateKeyToPem(keys.privateKey) };
  }

  async #issue(id: SpiffeId, spki: Uint8Array, ttlMs: number, now: Date): Promise<IssuedSvid> {
    if (id.trustDomain !== this.trustDomain) {
      throw new CertError(
        "CSR_WRONG_TRUST_DOMAIN",
        `${id.uri} is not in trust domain ${this.trustDomain}`,
      );
    }
    const signer = this.#signer;
    const notBefore = new Date(now.getTime() - CLOCK_SKEW_ALLOWANCE_MS);
    // An SVID never outlives the CA certificate that signs it.
    const notAfter = new Date(Math.min(now.getTime() + ttlMs, signer.facts.notAfter.getTime()));
    const serial = randomSerial();
    const certificate = await signCertificate(
      {
        serial,
        issuer: signer.facts.subject,
        notBefore,
        notAfter,
        subject: SVID_SUBJECT,
        subjectPublicKeyInfo: spki,
        extensions: svidExtensions(id, signer.authorityKeyId),
      },
      signer.key,
    );
    return {
      spiffeId: id.uri,
      certificate,
      chain: [certificate, ...signer.chainTail],
      bundle: this.trustBundle(now),
      notBefore,
      notAfter,
      serialHex: serial.toString("hex"),
    };
  }

  /**
   * Replaces the root (and the intermediate, if there is one). The old root stays in the
   * trust bundle until every SVID it could have signed has expired: now + the longest
   * lifetime this CA issues (+ the clock-skew allowance), or the old root's own expiry.
   * Old roots whose window has passed are dropped.
   */
  async rotateRoot(now: Date = new Date()): Promise<void> {
    const old = this.#material;
    const pair = await createCaPair(
      this.trustDomain,
      this.keyType,
      now,
      old.intermediate !== undefined,
    );
    const oldRoot = readCertificate(old.root.cert);
    const retainUntil = new Date(
      Math.min(
        now.getTime() + this.maxSvidTtlMs + CLOCK_SKEW_ALLOWANCE_MS,
        oldRoot.notAfter.getTime(),
      ),
    );
    this.#useMaterial({
      ...old,
      root: pair.root,
      intermediate: pair.intermediate,
      retiredRoots: [
        { cert: old.root.cert, retainUntil },
        ...old.retiredRoots.filter((r) => r.retainUntil > now),
      ],
    });
  }
}

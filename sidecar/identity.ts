// The sidecar's workload identity: a key of its own, an SVID for it from the CA service
// (a CSR plus the pod's token), renewed at half-life with a fresh key. Whoever presents the
// identity — the inbound TLS server, the upstream connection pools, the xDS channel —
// subscribes to rotations and swaps its secure context: connections already open keep the
// certificate they began with and new ones get the new one, so a rotation drops nothing.
// A renewal that fails is retried with backoff while the current SVID is still valid.

import { createPublicKey } from "node:crypto";
import {
  createCsr,
  fromPem,
  generateKeyPair,
  type KeyType,
  privateKeyToPem,
  readCertificate,
  renewalDelay,
  TrustBundle,
  toPem,
  verifySvid,
} from "../certs/index.js";

/** The CA service, as the identity sees it: a PEM CSR in, a PEM chain out (leaf first, root last). */
export type SignCsr = (csrPem: string, validitySeconds: number) => Promise<readonly string[]>;

export interface Svid {
  readonly spiffeId: string;
  /** PEM PKCS#8. */
  readonly keyPem: string;
  /** PEM: the leaf, then intermediates (what a TLS endpoint presents). */
  readonly chainPem: string;
  /** PEM: the root the CA returned last in its chain. */
  readonly rootPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialHex: string;
}

export interface IdentityOptions {
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly sign: SignCsr;
  /** Requested lifetime; the CA may shorten it. Default 24 h. */
  readonly validitySeconds?: number;
  readonly keyType?: KeyType;
  /** Backoff of a failed issue or renewal. */
  readonly retry?: { readonly baseMs?: number; readonly maxMs?: number };
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

export class IdentityError extends Error {
  override readonly name = "IdentityError";
  constructor(
    readonly code: "SVID_REFUSED" | "SVID_WRONG_IDENTITY" | "SVID_WRONG_KEY" | "SVID_INVALID",
    message: string,
  ) {
    super(message);
  }
}

export class WorkloadIdentity {
  readonly #opts: IdentityOptions;
  readonly #listeners = new Set<(svid: Svid) => void>();
  #current: Svid | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #closed = false;
  rotations = 0;

  constructor(options: IdentityOptions) {
    this.#opts = options;
  }

  get current(): Svid | undefined {
    return this.#current;
  }

  /** Called with each new SVID after the first; returns a function that stops it. */
  onRotate(listener: (svid: Svid) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Gets the first SVID (retrying with backoff until it does or is closed) and schedules renewals. */
  async start(): Promise<Svid> {
    for (;;) {
      try {
        const svid = await this.issue();
        this.#install(svid);
        return svid;
      } catch (err) {
        if (this.#closed) throw err;
        const delay = this.#backoff();
        this.#opts.log?.("getting an SVID failed; retrying", {
          error: (err as Error).message,
          retryInMs: Math.round(delay),
        });
        await new Promise((r) => setTimeout(r, delay));
        if (this.#closed) throw err;
      }
    }
  }

  /** One CSR to the CA with a new key; the answer is checked before it is believed. */
  async issue(): Promise<Svid> {
    const { spiffeId, trustDomain } = this.#opts;
    const { privateKey } = await generateKeyPair(this.#opts.keyType ?? "ec-p256");
    const csr = await createCsr(privateKey, [spiffeId]);
    let chain: readonly string[];
    try {
      chain = await this.#opts.sign(csr, this.#opts.validitySeconds ?? 24 * 3600);
    } catch (err) {
      throw new IdentityError("SVID_REFUSED", `the CA refused the CSR: ${(err as Error).message}`);
    }
    const blocks = chain.flatMap((pem) => fromPem(pem, "CERTIFICATE"));
    const leafDer = blocks[0];
    const rootDer = blocks[blocks.length - 1];
    if (!leafDer || !rootDer || blocks.length < 2) {
      throw new IdentityError("SVID_INVALID", "the CA returned no chain (leaf … root)");
    }
    const verified = await verifySvid(blocks.slice(0, -1), new TrustBundle([rootDer]), trustDomain);
    if (!verified.ok) {
      throw new IdentityError("SVID_INVALID", `the CA's certificate: ${verified.error.message}`);
    }
    if (verified.spiffeId.uri !== spiffeId) {
      throw new IdentityError(
        "SVID_WRONG_IDENTITY",
        `asked for ${spiffeId}, the CA signed ${verified.spiffeId.uri}`,
      );
    }
    const leaf = readCertificate(leafDer);
    const ours = createPublicKey(privateKey).export({ format: "der", type: "spki" });
    if (!Buffer.from(leaf.subjectPublicKeyInfo).equals(ours)) {
      throw new IdentityError("SVID_WRONG_KEY", "the certificate is not for the key of the CSR");
    }
    return {
      spiffeId,
      keyPem: privateKeyToPem(privateKey),
      chainPem: blocks
        .slice(0, -1)
        .map((b) => toPem("CERTIFICATE", b))
        .join(""),
      rootPem: toPem("CERTIFICATE", rootDer),
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      serialHex: leaf.serialHex,
    };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #install(svid: Svid): void {
    const first = this.#current === undefined;
    this.#current = svid;
    this.#failures = 0;
    if (!first) {
      this.rotations++;
      for (const listener of [...this.#listeners]) {
        try {
          listener(svid);
        } catch (err) {
          this.#opts.log?.("a rotation listener failed", { error: (err as Error).message });
        }
      }
    }
    // Half-life counted from now, not from notBefore: the CA backdates notBefore for clock
    // skew, and with a lifetime of minutes (demos) half-life from notBefore may have passed.
    const now = new Date();
    const from = svid.notBefore > now ? svid.notBefore : now;
    this.#schedule(renewalDelay({ notBefore: from, notAfter: svid.notAfter }, now));
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#renew(), delayMs);
    this.#timer.unref?.();
  }

  async #renew(): Promise<void> {
    try {
      const svid = await this.issue();
      if (!this.#closed) this.#install(svid);
    } catch (err) {
      if (this.#closed) return;
      const delay = this.#backoff();
      const left = (this.#current?.notAfter.getTime() ?? 0) - Date.now();
      this.#opts.log?.("SVID renewal failed; retrying", {
        error: (err as Error).message,
        retryInMs: Math.round(delay),
        validForMs: left,
      });
      this.#schedule(delay);
    }
  }

  /** Full jitter over base·2^failures, capped. */
  #backoff(): number {
    const { baseMs = 1_000, maxMs = 60_000 } = this.#opts.retry ?? {};
    this.#failures++;
    return Math.random() * Math.min(maxMs, baseMs * 2 ** this.#failures);
  }
}

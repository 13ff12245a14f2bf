// When a workload should renew its certificate: at half of its lifetime, with jitter so
// that workloads started together do not all renew in the same instant.

export interface RenewalPolicy {
  /** Fraction of the lifetime after which to renew. Default 0.5 (Istio's and SPIRE's choice). */
  readonly ratio?: number;
  /** ± this fraction of the lifetime, uniformly. Default 0.05. */
  readonly jitter?: number;
  /** A source of uniform numbers in [0, 1), for tests. */
  readonly random?: () => number;
}

export function renewalTime(
  validity: { readonly notBefore: Date; readonly notAfter: Date },
  policy: RenewalPolicy = {},
): Date {
  const { ratio = 0.5, jitter = 0.05, random = Math.random } = policy;
  const start = validity.notBefore.getTime();
  const lifetime = validity.notAfter.getTime() - start;
  const fraction = Math.min(1, Math.max(0, ratio + (random() * 2 - 1) * jitter));
  return new Date(start + lifetime * fraction);
}

/** Milliseconds from `now` until renewal is due; 0 when it already is. */
export function renewalDelay(
  validity: { readonly notBefore: Date; readonly notAfter: Date },
  now: Date = new Date(),
  policy: RenewalPolicy = {},
): number {
  return Math.max(0, renewalTime(validity, policy).getTime() - now.getTime());
}

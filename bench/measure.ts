// Shared benchmark plumbing: run an async operation with N in flight for a fixed time
// and report its rate. Each benchmark runs its peer in the same process and run.

export interface Rate {
  readonly ops: number;
  readonly seconds: number;
  readonly perSecond: number;
}

/** Runs `op` with `concurrency` calls in flight for `seconds` (after a short warm-up). */
export async function measureRate(
  op: (i: number) => Promise<unknown>,
  concurrency: number,
  seconds: number,
): Promise<Rate> {
  const loop = async (until: number, counter: { n: number }) => {
    while (performance.now() < until) await op(counter.n++);
  };
  const warm = { n: 0 };
  const warmUntil = performance.now() + Math.min(500, seconds * 250);
  await Promise.all(Array.from({ length: concurrency }, () => loop(warmUntil, warm)));
  const counter = { n: 0 };
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, () => loop(start + seconds * 1000, counter)),
  );
  const elapsed = (performance.now() - start) / 1000;
  return { ops: counter.n, seconds: elapsed, perSecond: counter.n / elapsed };
}

export const fmtRate = (r: number): string => `${Math.round(r).toLocaleString("en-US")} /s`;

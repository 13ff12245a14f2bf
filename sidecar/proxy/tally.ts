// Counts of things in progress by key (requests per endpoint, per cluster), each begun with
// a release function that counts it down exactly once however often it is called — the
// balancers' and circuit breakers' shared bookkeeping.

/**
 * Keys whose count fell to zero stay (deleting and re-adding a key per request makes a Map
 * rebuild its table over and over); past this many keys, a key is dropped when it falls to
 * zero, so endpoints long gone do not pile up.
 */
const KEEP_IDLE_KEYS = 1024;

export class Tally {
  readonly #counts = new Map<string, number>();

  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  begin(key: string): () => void {
    this.#counts.set(key, this.count(key) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = this.count(key) - 1;
      if (left > 0 || this.#counts.size <= KEEP_IDLE_KEYS) this.#counts.set(key, left);
      else this.#counts.delete(key);
    };
  }
}

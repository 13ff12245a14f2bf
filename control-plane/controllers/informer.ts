// An informer, the client-go way: list a kind into a local cache, then watch from the
// list's resourceVersion; when the watch is GONE (fell behind) or fails, list again and
// tell the owner to resync. The controllers' only way of reading the Store.

import { type Store, StoreError, type WatchEvent } from "../../api/store.js";
import type { Kind } from "../../api/types.js";

/** Delay before retrying a failed sync, and before re-listing after a failed watch. */
export const RETRY_DELAY_MS = 500;

export interface Informer {
  /** Lists into the cache; returns the list's resourceVersion. */
  list(): Promise<string>;
  /** Watches from `version`, re-listing (then calling `resynced`) when the watch is GONE or fails. */
  follow(version: string, resynced: () => void, onError: (e: Error) => void): Promise<void>;
}

export function informer(
  store: Store,
  kind: Kind,
  signal: AbortSignal,
  on: { reset: (items: unknown[]) => void; event: (ev: WatchEvent) => void },
): Informer {
  const list = async () => {
    const result = await store.list(kind);
    on.reset(result.items);
    return result.resourceVersion;
  };
  return {
    list,
    async follow(version, resynced, onError) {
      let from = version;
      while (!signal.aborted) {
        try {
          for await (const ev of store.watch(kind, { resourceVersion: from, signal })) on.event(ev);
          return; // ended without an error: aborted, or the store closed
        } catch (err) {
          if (!(err instanceof StoreError && err.code === "GONE")) {
            onError(err as Error);
            await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
          }
        }
        if (signal.aborted) return;
        from = await list().catch(() => from);
        resynced();
      }
    },
  };
}

// The Store: what controllers, the translator and the lab read and write, with the
// semantics of the Kubernetes API they rely on — list at a resourceVersion, watch from
// one, optimistic concurrency on update. Backends (memory now; NATS JetStream KV and the
// Kubernetes API later) implement this one small interface.

import type { Kind, ResourceOf } from "./types.js";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface WatchEvent<K extends Kind = Kind> {
  readonly type: WatchEventType;
  /** For DELETED: the object as it was last, with the deletion's resourceVersion. */
  readonly object: ResourceOf<K>;
}

export interface ListResult<K extends Kind> {
  readonly items: ResourceOf<K>[];
  /** The store's resourceVersion at the time of the list: watch from here to miss nothing. */
  readonly resourceVersion: string;
}

export interface ListOptions {
  /** Only this namespace. */
  readonly namespace?: string;
}

export interface WatchOptions extends ListOptions {
  /**
   * Deliver every change after this version. Omitted: the current objects first, as
   * ADDED events, then changes (the Kubernetes "list then watch" in one call).
   */
  readonly resourceVersion?: string;
  /** Ends the watch (the iterator returns). */
  readonly signal?: AbortSignal;
}

export type StoreErrorCode =
  /** create: an object with that key exists. (Kubernetes 409 AlreadyExists) */
  | "ALREADY_EXISTS"
  /** get/update/delete: no such object. (404 NotFound) */
  | "NOT_FOUND"
  /** update/delete with a resourceVersion that is not the current one. (409 Conflict) */
  | "CONFLICT"
  /** watch from a version older than the store still remembers. (410 Gone) */
  | "GONE"
  /** The object failed validation. (422 Invalid) */
  | "INVALID";

export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface Store {
  get<K extends Kind>(
    kind: K,
    name: string,
    namespace?: string,
  ): Promise<ResourceOf<K> | undefined>;
  list<K extends Kind>(kind: K, opts?: ListOptions): Promise<ListResult<K>>;
  /** Fails with ALREADY_EXISTS. Returns the stored object (resourceVersion, uid set). */
  create<K extends Kind>(obj: ResourceOf<K>): Promise<ResourceOf<K>>;
  /**
   * Replaces the object. With metadata.resourceVersion set, fails with CONFLICT unless it
   * is the current one; unset, it overwrites. Fails with NOT_FOUND when absent.
   */
  update<K extends Kind>(obj: ResourceOf<K>): Promise<ResourceOf<K>>;
  /** Create or replace, never CONFLICT: what `kubectl apply` does for Trellis' sources. */
  apply<K extends Kind>(obj: ResourceOf<K>): Promise<ResourceOf<K>>;
  /** Fails with NOT_FOUND. Returns the object as it was deleted. */
  delete<K extends Kind>(
    kind: K,
    name: string,
    namespace?: string,
    opts?: { resourceVersion?: string },
  ): Promise<ResourceOf<K>>;
  /** Changes to `kind`, in resourceVersion order, until the signal aborts. */
  watch<K extends Kind>(kind: K, opts?: WatchOptions): AsyncIterable<WatchEvent<K>>;
  close(): Promise<void>;
}

// The in-memory Store (the lab's default backend), with the Kubernetes API semantics that
// controllers rely on: one global resourceVersion, uid/creationTimestamp/generation kept by
// the server, optimistic concurrency, validation and defaults on every write, list-then-
// watch and watch-from-version out of a bounded history. Callers never share its objects:
// everything is copied in and out.

import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { normalizeResource } from "./parse.js";
import type {
  ListOptions,
  ListResult,
  Store,
  WatchEvent,
  WatchEventType,
  WatchOptions,
} from "./store.js";
import { StoreError } from "./store.js";
import { CLUSTER_SCOPED, type Kind, keyOf, type Resource, type ResourceOf } from "./types.js";
import { type Recorded, Watcher } from "./watcher.js";

export interface MemoryStoreOptions {
  /** Events remembered for watches that resume from a resourceVersion. Default 10,000. */
  readonly historyLimit?: number;
  /** A watcher with more undelivered events than this is ended with GONE. Default 100,000. */
  readonly maxWatcherBacklog?: number;
  /** The clock for creationTimestamp. */
  readonly now?: () => Date;
}

export const DEFAULT_HISTORY_LIMIT = 10_000;
export const DEFAULT_MAX_WATCHER_BACKLOG = 100_000;

export class MemoryStore implements Store {
  readonly #byKind = new Map<Kind, Map<string, Resource>>();
  readonly #watchers = new Set<Pick<Watcher, "offer" | "end">>();
  readonly #historyLimit: number;
  readonly #maxBacklog: number;
  readonly #now: () => Date;
  /** Events in resourceVersion order, contiguous, ending at #rv; live ones from #historyStart. */
  #history: Recorded[] = [];
  #historyStart = 0;
  #rv = 0;
  #closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    this.#historyLimit = Math.max(1, opts.historyLimit ?? DEFAULT_HISTORY_LIMIT);
    this.#maxBacklog = Math.max(1, opts.maxWatcherBacklog ?? DEFAULT_MAX_WATCHER_BACKLOG);
    this.#now = opts.now ?? (() => new Date());
  }

  async get<K extends Kind>(
    kind: K,
    name: string,
    namespace?: string,
  ): Promise<ResourceOf<K> | undefined> {
    const found = this.#objects(kind).get(storeKey(kind, name, namespace));
    return found === undefined ? undefined : (structuredClone(found) as ResourceOf<K>);
  }

  async list<K extends Kind>(kind: K, opts: ListOptions = {}): Promise<ListResult<K>> {
    return {
      items: this.#current(kind, opts.namespace).map((o) => structuredClone(o) as ResourceOf<K>),
      resourceVersion: String(this.#rv),
    };
  }

  async create<K extends Kind>(input: ResourceOf<K>): Promise<ResourceOf<K>> {
    const obj = this.#normalize(input);
    const objects = this.#objects(obj.kind);
    const key = keyOf(obj);
    if (objects.has(key)) {
      throw new StoreError(
        "ALREADY_EXISTS",
        `${describe(obj)} already exists: use update or apply to change it`,
      );
    }
    const meta = obj.metadata;
    meta.uid = randomUUID();
    meta.creationTimestamp = this.#now()
      .toISOString()
      .replace(/\.\d+Z$/, "Z");
    meta.generation = 1;
    meta.resourceVersion = String(++this.#rv);
    objects.set(key, obj);
    this.#record("ADDED", obj);
    return structuredClone(obj) as ResourceOf<K>;
  }

  async update<K extends Kind>(input: ResourceOf<K>): Promise<ResourceOf<K>> {
    const obj = this.#normalize(input);
    const existing = this.#objects(obj.kind).get(keyOf(obj));
    if (existing === undefined) {
      throw new StoreError(
        "NOT_FOUND",
        `${describe(obj)} does not exist: create it first (or use apply)`,
      );
    }
    const given = input.metadata?.resourceVersion;
    if (given !== undefined && given !== existing.metadata.resourceVersion) {
      throw conflict(obj, given, existing);
    }
    return this.#replace(existing, obj) as ResourceOf<K>;
  }

  async apply<K extends Kind>(input: ResourceOf<K>): Promise<ResourceOf<K>> {
    const obj = this.#normalize(input);
    const existing = this.#objects(obj.kind).get(keyOf(obj));
    if (existing === undefined) return this.create(obj as ResourceOf<K>);
    return this.#replace(existing, obj) as ResourceOf<K>;
  }

  async delete<K extends Kind>(
    kind: K,
    name: string,
    namespace?: string,
    opts: { resourceVersion?: string } = {},
  ): Promise<ResourceOf<K>> {
    const objects = this.#objects(kind);
    const key = storeKey(kind, name, namespace);
    const existing = objects.get(key);
    if (existing === undefined) {
      throw new StoreError("NOT_FOUND", `${kind} ${key.slice(kind.length + 1)} does not exist`);
    }
    if (
      opts.resourceVersion !== undefined &&
      opts.resourceVersion !== existing.metadata.resourceVersion
    ) {
      throw conflict(existing, opts.resourceVersion, existing);
    }
    objects.delete(key);
    const last = structuredClone(existing);
    last.metadata.resourceVersion = String(++this.#rv);
    this.#record("DELETED", last);
    return structuredClone(last) as ResourceOf<K>;
  }

  watch<K extends Kind>(kind: K, opts: WatchOptions = {}): AsyncIterable<WatchEvent<K>> {
    return { [Symbol.asyncIterator]: () => this.#startWatch(kind, opts) };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of [...this.#watchers]) w.end();
  }

  /** The store's current resourceVersion. */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  #startWatch<K extends Kind>(kind: K, opts: WatchOptions): Watcher<K> {
    const { signal } = opts;
    const onAbort = () => watcher.end();
    const watcher: Watcher<K> = new Watcher<K>(kind, opts.namespace, this.#maxBacklog, () => {
      this.#watchers.delete(watcher);
      signal?.removeEventListener("abort", onAbort);
    });
    if (this.#closed || signal?.aborted) {
      watcher.end();
      return watcher;
    }
    if (opts.resourceVersion === undefined) {
      for (const object of this.#current(kind, opts.namespace))
        watcher.offer({ type: "ADDED", object });
    } else {
      const err = this.#replayInto(watcher, opts.resourceVersion);
      if (err) {
        watcher.fail(err);
        return watcher;
      }
    }
    this.#watchers.add(watcher);
    signal?.addEventListener("abort", onAbort, { once: true });
    return watcher;
  }

  #replayInto(watcher: Pick<Watcher, "offer">, resourceVersion: string): StoreError | undefined {
    if (!/^\d+$/.test(resourceVersion)) {
      return new StoreError(
        "INVALID",
        `resourceVersion ${JSON.stringify(resourceVersion)} is not a decimal number: pass the resourceVersion of a list or an object`,
      );
    }
    const from = Number(resourceVersion);
    const earliest =
      this.#historyStart < this.#history.length
        ? Number(this.#history[this.#historyStart]?.object.metadata.resourceVersion) - 1
        : this.#rv;
    if (from < earliest) {
      return new StoreError(
        "GONE",
        `resourceVersion ${from} is too old: the store remembers changes after ${earliest} only; list again and watch from the list's resourceVersion`,
      );
    }
    for (let i = this.#historyStart; i < this.#history.length; i++) {
      const ev = this.#history[i] as Recorded;
      if (Number(ev.object.metadata.resourceVersion) > from) watcher.offer(ev);
    }
    return undefined;
  }

  #replace(existing: Resource, obj: Resource): Resource {
    const meta = obj.metadata;
    meta.uid = existing.metadata.uid;
    meta.creationTimestamp = existing.metadata.creationTimestamp;
    const specChanged = !isDeepStrictEqual(specOf(existing), specOf(obj));
    meta.generation = (existing.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    meta.resourceVersion = existing.metadata.resourceVersion;
    // As the API server does: a write that changes nothing makes no new version and no event.
    if (isDeepStrictEqual(existing, obj)) return structuredClone(existing);
    meta.resourceVersion = String(++this.#rv);
    this.#objects(obj.kind).set(keyOf(obj), obj);
    this.#record("MODIFIED", obj);
    return structuredClone(obj);
  }

  #record(type: WatchEventType, object: Resource): void {
    const ev: Recorded = { type, object };
    this.#history.push(ev);
    if (this.#history.length - this.#historyStart > this.#historyLimit) this.#historyStart++;
    if (this.#historyStart >= this.#historyLimit) {
      this.#history = this.#history.slice(this.#historyStart);
      this.#historyStart = 0;
    }
    for (const w of [...this.#watchers]) w.offer(ev);
  }

  #normalize(input: unknown): Resource {
    const result = normalizeResource(input);
    if (result.resource !== undefined) return result.resource;
    const doc = result.issues[0]?.document ?? "object";
    const lines = result.issues.map(
      (i) => `  ${i.path === "" ? i.message : `${i.path}: ${i.message}`}`,
    );
    throw new StoreError(
      "INVALID",
      `${doc} is invalid; fix these fields and write it again:\n${lines.join("\n")}`,
    );
  }

  #objects(kind: Kind): Map<string, Resource> {
    let objects = this.#byKind.get(kind);
    if (objects === undefined) {
      objects = new Map();
      this.#byKind.set(kind, objects);
    }
    return objects;
  }

  #current(kind: Kind, namespace: string | undefined): Resource[] {
    return [...this.#objects(kind).values()]
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .sort(byNamespaceAndName);
  }
}

function storeKey(kind: Kind, name: string, namespace: string | undefined): string {
  return CLUSTER_SCOPED.has(kind)
    ? keyOf({ kind, metadata: { name } })
    : keyOf({ kind, metadata: { name, namespace: namespace ?? "default" } });
}

/** What generation counts: everything but metadata and status. */
function specOf(obj: Resource): Record<string, unknown> {
  const { metadata: _m, status: _s, ...rest } = obj as Resource & { status?: unknown };
  return rest;
}

function byNamespaceAndName(a: Resource, b: Resource): number {
  const na = a.metadata.namespace ?? "";
  const nb = b.metadata.namespace ?? "";
  if (na !== nb) return na < nb ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

function describe(obj: Resource): string {
  return `${obj.kind} ${keyOf(obj).slice(obj.kind.length + 1)}`;
}

function conflict(obj: Resource, given: string, existing: Resource): StoreError {
  return new StoreError(
    "CONFLICT",
    `${describe(obj)} has changed since resourceVersion ${given} (it is now ${existing.metadata.resourceVersion}): read it again and redo your change`,
  );
}

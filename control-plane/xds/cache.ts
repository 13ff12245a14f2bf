// The snapshot cache: the one place where what to send (a Snapshot per proxy, from the
// translator) meets how to send it (the SotW and delta servers). It encodes every
// resource once, derives versions from content, and tells watchers of a node when that
// node's snapshot changes. The servers see it only through SnapshotSource.

import { createHash } from "node:crypto";
import type { XdsMessage } from "../../api/xds-proto.js";
import { encodeResource } from "./encode.js";
import { XdsError } from "./errors.js";
import type { ResourceMap, Snapshot } from "./types.js";

/** One resource, encoded: shared by every snapshot that holds the same message object. */
export interface EncodedResource {
  /** sha256 of the encoded message, 16 hex digits: the delta `version`. */
  readonly version: string;
  readonly any: { readonly type_url: string; readonly value: Buffer };
}

/** Every resource of one type in one snapshot, sorted by name. */
export interface PreparedType {
  readonly typeUrl: string;
  /** Hash of every (name, resource version): the SotW `version_info`. */
  readonly version: string;
  readonly resources: ReadonlyMap<string, EncodedResource>;
}

/** A Snapshot with every resource encoded and versioned, as the servers read it. */
export interface PreparedSnapshot {
  readonly version: string;
  readonly snapshot: Snapshot;
  readonly types: ReadonlyMap<string, PreparedType>;
}

/** The seam between the cache and the servers: read a node's snapshot, watch it change. */
export interface SnapshotSource {
  prepared(nodeId: string): PreparedSnapshot | undefined;
  /** `listener` runs on every setSnapshot / clearSnapshot of `nodeId`; returns cancel. */
  watch(nodeId: string, listener: SnapshotListener): () => void;
}

export type SnapshotListener = (snapshot: PreparedSnapshot | undefined) => void;

const shortHash = (data: string | Uint8Array) =>
  createHash("sha256").update(data).digest("hex").slice(0, 16);

/**
 * Encodes resources once per message object (a WeakMap by identity): the translator shares
 * one message among every proxy that gets it, so 1,000 proxies × 1,000 clusters encode
 * 1,000 clusters. Messages and maps must not be mutated once handed to the cache.
 */
export class ResourceEncoder {
  readonly #byMessage = new WeakMap<object, EncodedResource>();
  readonly #byMap = new WeakMap<ResourceMap, PreparedType>();
  #encodes = 0;
  #reused = 0;

  encode(typeUrl: string, name: string, message: XdsMessage): EncodedResource {
    const hit = this.#byMessage.get(message);
    if (hit && hit.any.type_url === typeUrl) {
      this.#reused++;
      return hit;
    }
    let any: EncodedResource["any"];
    try {
      any = encodeResource(typeUrl, message);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const code = /no such type/i.test(why) ? "XDS_UNKNOWN_TYPE" : "XDS_RESOURCE_INVALID";
      throw new XdsError(code, `resource "${name}" of ${typeUrl} does not encode: ${why}`);
    }
    this.#encodes++;
    const encoded = { version: shortHash(any.value), any };
    this.#byMessage.set(message, encoded);
    return encoded;
  }

  /**
   * A whole type. A ResourceMap object seen before (shared by many proxies, or kept from one
   * compile to the next) is prepared once: a map handed to the cache is not to be changed
   * afterwards — a change is a new Map. (A map that grew or shrank in place is still caught.)
   */
  prepareType(typeUrl: string, map: ResourceMap): PreparedType {
    const hit = this.#byMap.get(map);
    if (hit && hit.typeUrl === typeUrl && hit.resources.size === map.size) return hit;
    const names = [...map.keys()].sort();
    const resources = new Map<string, EncodedResource>();
    const hash = createHash("sha256");
    for (const name of names) {
      const encoded = this.encode(typeUrl, name, map.get(name) as XdsMessage);
      resources.set(name, encoded);
      hash.update(`${name}\0${encoded.version}\n`);
    }
    const prepared = { typeUrl, version: hash.digest("hex").slice(0, 16), resources };
    this.#byMap.set(map, prepared);
    return prepared;
  }

  /** How many messages were encoded, and how many encodes a shared message saved. */
  stats(): { encodes: number; reused: number } {
    return { encodes: this.#encodes, reused: this.#reused };
  }
}

const EMPTY_VERSION = shortHash("");

/** The type's resources in `snapshot`; a type the snapshot lacks has none. */
export function preparedType(snapshot: PreparedSnapshot, typeUrl: string): PreparedType {
  return snapshot.types.get(typeUrl) ?? { typeUrl, version: EMPTY_VERSION, resources: new Map() };
}

/** What changed from one PreparedType to the next: the same for every stream that held `from`. */
export interface TypeDiff {
  /** Names that are new in `to` or have another version there, sorted. */
  readonly changed: readonly string[];
  /** Names of `from` that `to` lacks. */
  readonly removed: readonly string[];
}

const diffs = new WeakMap<PreparedType, WeakMap<PreparedType, TypeDiff>>();

/**
 * The diff between two versions of a type, memoized: 1,000 streams that all held `from`
 * share one walk over the resources, and each then looks only at what changed.
 */
export function typeDiff(from: PreparedType, to: PreparedType): TypeDiff {
  let byFrom = diffs.get(to);
  const hit = byFrom?.get(from);
  if (hit) return hit;
  const changed: string[] = [];
  const removed: string[] = [];
  for (const [name, r] of to.resources) {
    if (from.resources.get(name)?.version !== r.version) changed.push(name);
  }
  for (const name of from.resources.keys()) if (!to.resources.has(name)) removed.push(name);
  const diff = { changed, removed };
  if (!byFrom) {
    byFrom = new WeakMap();
    diffs.set(to, byFrom);
  }
  byFrom.set(from, diff);
  return diff;
}

export interface SnapshotCacheOptions {
  /** Share one encoder among caches (e.g. shards) to share its encodings. */
  encoder?: ResourceEncoder;
}

/** Snapshots by node id, prepared on the way in, with watchers per node. */
export class SnapshotCache implements SnapshotSource {
  readonly encoder: ResourceEncoder;
  readonly #snapshots = new Map<string, PreparedSnapshot>();
  readonly #watchers = new Map<string, Set<SnapshotListener>>();

  constructor(options: SnapshotCacheOptions = {}) {
    this.encoder = options.encoder ?? new ResourceEncoder();
  }

  /**
   * Publishes `snapshot` for `nodeId` and notifies its watchers. Throws XdsError
   * (XDS_RESOURCE_INVALID / XDS_UNKNOWN_TYPE) for a resource that does not encode, and
   * then changes nothing.
   */
  setSnapshot(nodeId: string, snapshot: Snapshot): PreparedSnapshot {
    const types = new Map<string, PreparedType>();
    for (const [typeUrl, map] of snapshot.resources) {
      types.set(typeUrl, this.encoder.prepareType(typeUrl, map));
    }
    const prepared: PreparedSnapshot = { version: snapshot.version, snapshot, types };
    this.#snapshots.set(nodeId, prepared);
    this.#notify(nodeId, prepared);
    return prepared;
  }

  getSnapshot(nodeId: string): Snapshot | undefined {
    return this.#snapshots.get(nodeId)?.snapshot;
  }

  /**
   * Forgets the node's snapshot. Open streams keep what they were sent and wait for the
   * next snapshot. Returns whether there was one.
   */
  clearSnapshot(nodeId: string): boolean {
    const had = this.#snapshots.delete(nodeId);
    if (had) this.#notify(nodeId, undefined);
    return had;
  }

  nodeIds(): string[] {
    return [...this.#snapshots.keys()];
  }

  prepared(nodeId: string): PreparedSnapshot | undefined {
    return this.#snapshots.get(nodeId);
  }

  watch(nodeId: string, listener: SnapshotListener): () => void {
    let set = this.#watchers.get(nodeId);
    if (!set) {
      set = new Set();
      this.#watchers.set(nodeId, set);
    }
    // A listener object of its own, so that watching twice with one function is two watches.
    const entry: SnapshotListener = (s) => listener(s);
    set.add(entry);
    return () => {
      const current = this.#watchers.get(nodeId);
      if (!current?.delete(entry)) return;
      if (current.size === 0) this.#watchers.delete(nodeId);
    };
  }

  /** Open watches, for one node or in all (a leak check: 0 once every stream is gone). */
  watcherCount(nodeId?: string): number {
    if (nodeId !== undefined) return this.#watchers.get(nodeId)?.size ?? 0;
    let n = 0;
    for (const set of this.#watchers.values()) n += set.size;
    return n;
  }

  #notify(nodeId: string, snapshot: PreparedSnapshot | undefined): void {
    const set = this.#watchers.get(nodeId);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(snapshot);
      } catch {
        // Listeners are the servers' streams, which guard themselves; never let one stop the rest.
      }
    }
  }
}

// The mesh controller: the loop between the Store and the xDS cache. Informers keep a local
// copy of every kind the translator reads; a change schedules one compile (debounced, with
// a bound on how long a stream of changes can postpone it), and each connected proxy gets
// snapshotFor(compiled, node), checked before it is published. A proxy that connects gets
// its snapshot on its first request, before the xDS stream answers it.

import type { Store, WatchEvent } from "../api/store.js";
import type { Kind, Resource } from "../api/types.js";
import { keyOf } from "../api/types.js";
import { type Informer, informer } from "./controllers/informer.js";
import { NodeError, parseNode, type RawNode } from "./node.js";
import {
  type CompiledMesh,
  checkSnapshot,
  compileMesh,
  type MeshModel,
  snapshotFor,
  type TranslateOptions,
  type TranslateWarning,
} from "./translator/index.js";
import type { SnapshotCache } from "./xds/cache.js";
import type { Callbacks } from "./xds/callbacks.js";
import type { ProxyNode } from "./xds/types.js";

/** The kinds the translator reads, and where each goes in the MeshModel. */
const MODEL_KINDS = {
  Namespace: "namespaces",
  Service: "services",
  EndpointSlice: "endpointSlices",
  Pod: "pods",
  HTTPRoute: "httpRoutes",
  GRPCRoute: "grpcRoutes",
  PeerAuthentication: "peerAuthentications",
  AuthorizationPolicy: "authorizationPolicies",
} as const satisfies Partial<Record<Kind, keyof MeshModel>>;

type ModelKind = keyof typeof MODEL_KINDS;

export interface MeshControllerOptions {
  readonly store: Store;
  readonly cache: SnapshotCache;
  readonly translate: TranslateOptions;
  readonly signal: AbortSignal;
  /** Quiet time that batches a burst of changes into one push. Default 50 ms. */
  readonly debounceMs?: number;
  /** The longest a continuous stream of changes can delay a push. Default 500 ms. */
  readonly maxDelayMs?: number;
  /** Warnings and refusals, one line each. Default: stderr as JSON. */
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface MeshStats {
  /** Compiles done; the first one happens once every kind has been listed. */
  readonly compiles: number;
  readonly lastCompileMs: number;
  /** Time of the last push: compile plus every connected proxy's snapshot. */
  readonly lastPushMs: number;
  readonly proxies: number;
  /** Snapshots that failed checkSnapshot and were not published (total). */
  readonly refused: number;
  readonly warnings: readonly TranslateWarning[];
}

interface Connected {
  node: ProxyNode;
  streams: Set<number>;
}

const stderrLog = (message: string, fields?: Record<string, unknown>) =>
  process.stderr.write(
    `${JSON.stringify({ level: "warn", component: "mesh", message, ...fields })}\n`,
  );

export class MeshController {
  readonly #opts: MeshControllerOptions;
  readonly #log: (message: string, fields?: Record<string, unknown>) => void;
  readonly #objects = new Map<ModelKind, Map<string, Resource>>();
  readonly #nodes = new Map<string, Connected>();
  /** streamId → node id, for streams whose first request has been seen. */
  readonly #streams = new Map<number, string>();
  #translate: TranslateOptions;
  #compiled: CompiledMesh | undefined;
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  #firstPending = 0;
  #stats = { compiles: 0, lastCompileMs: 0, lastPushMs: 0, refused: 0 };
  #run: Promise<void> | undefined;
  #synced!: () => void;
  /** Resolves once every kind has been listed and the first snapshot set compiled. */
  readonly synced: Promise<void> = new Promise((resolve) => {
    this.#synced = resolve;
  });

  constructor(opts: MeshControllerOptions) {
    this.#opts = opts;
    this.#translate = opts.translate;
    this.#log = opts.log ?? stderrLog;
    for (const kind of Object.keys(MODEL_KINDS) as ModelKind[]) this.#objects.set(kind, new Map());
  }

  /** Lists and follows the Store until the signal aborts. Resolves then. */
  start(): Promise<void> {
    this.#run ??= this.#follow();
    return this.#run;
  }

  /** The hooks the xDS server calls: they register proxies and give each its snapshot. */
  readonly callbacks: Callbacks = {
    onStreamRequest: (streamId, rawNode) => {
      if (this.#streams.has(streamId)) return;
      let node: ProxyNode;
      try {
        node = parseNode(rawNode as RawNode);
      } catch (err) {
        if (!(err instanceof NodeError)) throw err;
        this.#log("ignoring a stream whose node cannot be read", { streamId, error: err.message });
        return;
      }
      this.#streams.set(streamId, node.id);
      const entry = this.#nodes.get(node.id);
      if (entry) {
        entry.streams.add(streamId);
        // A reconnect may carry new metadata (labels changed): the newest node wins.
        entry.node = node;
      } else {
        this.#nodes.set(node.id, { node, streams: new Set([streamId]) });
      }
      if (this.#compiled) this.#publish(this.#compiled, node);
    },
    onNack: (streamId, nodeId, typeUrl, version, message) => {
      this.#log("a proxy rejected its configuration and keeps its last good one", {
        streamId,
        nodeId,
        typeUrl,
        version,
        error: message,
      });
    },
    onStreamClosed: (streamId) => {
      const nodeId = this.#streams.get(streamId);
      if (nodeId === undefined) return;
      this.#streams.delete(streamId);
      const entry = this.#nodes.get(nodeId);
      entry?.streams.delete(streamId);
      if (entry && entry.streams.size === 0) {
        this.#nodes.delete(nodeId);
        this.#opts.cache.clearSnapshot(nodeId);
      }
    },
  };

  /** A new trust bundle (root rotation): every sidecar's ROOTCA secret changes. */
  setTrustBundle(pem: string): void {
    if (pem === this.#translate.trustBundlePem) return;
    this.#translate = { ...this.#translate, trustBundlePem: pem };
    this.#schedule();
  }

  get compiled(): CompiledMesh | undefined {
    return this.#compiled;
  }

  /** The connected proxies, by node id. */
  nodes(): ProxyNode[] {
    return [...this.#nodes.values()].map((c) => c.node);
  }

  stats(): MeshStats {
    return {
      ...this.#stats,
      proxies: this.#nodes.size,
      warnings: this.#compiled?.warnings ?? [],
    };
  }

  async #follow(): Promise<void> {
    const { store, signal } = this.#opts;
    const onError = (e: Error) => this.#log("watch failed; listing again", { error: e.message });
    const informers: Informer[] = (Object.keys(MODEL_KINDS) as ModelKind[]).map((kind) => {
      const objects = this.#objects.get(kind) as Map<string, Resource>;
      return informer(store, kind, signal, {
        reset: (items) => {
          objects.clear();
          for (const o of items as Resource[]) objects.set(keyOf(o), o);
        },
        event: (ev: WatchEvent) => {
          if (ev.type === "DELETED") objects.delete(keyOf(ev.object));
          else objects.set(keyOf(ev.object), ev.object);
          this.#schedule();
        },
      });
    });
    const versions: string[] = [];
    for (const inf of informers) versions.push(await inf.list());
    this.#push();
    this.#synced();
    await Promise.all(
      informers.map((inf, i) => inf.follow(versions[i] ?? "0", () => this.#schedule(), onError)),
    );
    clearTimeout(this.#timer);
  }

  /** Debounce: push after debounceMs of quiet, or maxDelayMs after the first change. */
  #schedule(): void {
    if (this.#opts.signal.aborted) return;
    const now = Date.now();
    if (!this.#dirty) {
      this.#dirty = true;
      this.#firstPending = now;
    }
    clearTimeout(this.#timer);
    const quiet = this.#opts.debounceMs ?? 50;
    const deadline = this.#firstPending + (this.#opts.maxDelayMs ?? 500);
    this.#timer = setTimeout(() => this.#push(), Math.max(0, Math.min(quiet, deadline - now)));
  }

  #model(): MeshModel {
    const model: Record<string, Resource[]> = {};
    for (const [kind, field] of Object.entries(MODEL_KINDS)) {
      model[field] = [...(this.#objects.get(kind as ModelKind)?.values() ?? [])];
    }
    return model as unknown as MeshModel;
  }

  #push(): void {
    this.#dirty = false;
    const started = performance.now();
    const compiled = compileMesh(this.#model(), this.#translate, this.#compiled);
    const compiledAt = performance.now();
    this.#compiled = compiled;
    for (const { node } of this.#nodes.values()) this.#publish(compiled, node);
    this.#stats = {
      ...this.#stats,
      compiles: this.#stats.compiles + 1,
      lastCompileMs: compiledAt - started,
      lastPushMs: performance.now() - started,
    };
  }

  /** Sets the node's snapshot, unless it fails the consistency check (then the old one stays). */
  #publish(compiled: CompiledMesh, node: ProxyNode): void {
    const snapshot = snapshotFor(compiled, node);
    const issues = checkSnapshot(snapshot);
    if (issues.length > 0) {
      this.#stats.refused++;
      this.#log("refusing to publish an inconsistent snapshot; the proxy keeps its last one", {
        nodeId: node.id,
        version: snapshot.version,
        issues: issues.slice(0, 10),
      });
      return;
    }
    try {
      this.#opts.cache.setSnapshot(node.id, snapshot);
    } catch (err) {
      this.#stats.refused++;
      this.#log("refusing to publish a snapshot that does not encode", {
        nodeId: node.id,
        error: (err as Error).message,
      });
    }
  }
}

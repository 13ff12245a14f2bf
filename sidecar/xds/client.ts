// The sidecar's xDS client: one ADS stream (state of the world or delta) to the control
// plane, subscribing as Envoy does — every Cluster and Listener (wildcard), then the
// endpoints, route configurations and secrets those name — and turning responses into a
// coherent XdsConfig (assemble.ts). Every resource is decoded and validated (resources.ts);
// a response with any bad resource is NACKed with every error and changes nothing. When the
// stream fails, the client keeps serving its last good config and reconnects with jittered
// exponential backoff, telling the server what it already holds.
//
// The stream itself is injected (OpenStream), so tests drive the protocol without sockets
// and grpc-transport.ts is the only code that touches gRPC.

import { TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import { type Accepted, assembleConfig, EMPTY_CONFIG, type XdsConfig } from "./assemble.js";
import { type DecodedResource, decodeResource } from "./resources.js";

export type XdsProtocol = "sotw" | "delta";

/** One open stream: requests go out through it; the client learns of responses and the end. */
export interface AdsStream {
  send(request: XdsMessage): void;
  close(): void;
}

export interface AdsStreamHandlers {
  onResponse(response: XdsMessage): void;
  /** The stream ended (error or not); the client reconnects. */
  onClose(error?: Error): void;
}

export type OpenStream = (protocol: XdsProtocol, handlers: AdsStreamHandlers) => AdsStream;

export interface XdsClientOptions {
  readonly protocol: XdsProtocol;
  /** The node sent on each stream's first request (id, metadata, locality). */
  readonly node: XdsMessage;
  readonly open: OpenStream;
  /** Reconnect backoff: full jitter over base·2^attempt, capped. */
  readonly backoff?: { readonly baseMs?: number; readonly maxMs?: number };
  readonly random?: () => number;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** What the client knows of one type, as /config_dump and tests read it. */
export interface TypeStatus {
  readonly typeUrl: string;
  readonly version: string;
  readonly subscribed: "*" | readonly string[];
  readonly resources: number;
  readonly lastNack?: { readonly version: string; readonly message: string; readonly at: Date };
}

/** The order in which subscriptions are opened: what others refer to first. */
const TYPES = [
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
  TypeUrl.Secret,
] as const;
const WILDCARD_TYPES: ReadonlySet<string> = new Set([TypeUrl.Cluster, TypeUrl.Listener]);
/** google.rpc.Code INVALID_ARGUMENT, the code Envoy NACKs with. */
const INVALID_ARGUMENT = 3;
/** A NACK's message is cut here: error_detail travels in every later request of the type. */
const MAX_NACK_MESSAGE = 4_000;

interface TypeState {
  readonly typeUrl: string;
  /** Accepted resources by name, and each one's version (delta) for initial_resource_versions. */
  resources: Map<string, DecodedResource>;
  versions: Map<string, string>;
  /** SotW version_info / delta system_version_info of the last accepted response. */
  version: string;
  /** Names asked for (not for wildcard types). */
  names: Set<string>;
  /** Whether a request for the type went out on the current stream. */
  requested: boolean;
  acceptedOnce: boolean;
  lastNack?: { version: string; message: string; at: Date };
}

export class XdsClient {
  readonly #opts: XdsClientOptions;
  readonly #types = new Map<string, TypeState>();
  readonly #listeners = new Set<(config: XdsConfig) => void>();
  #config: XdsConfig = EMPTY_CONFIG;
  #stream: AdsStream | undefined;
  #firstRequest = true;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #connected = false;
  #synced = false;

  constructor(options: XdsClientOptions) {
    this.#opts = options;
    for (const typeUrl of TYPES) {
      this.#types.set(typeUrl, {
        typeUrl,
        resources: new Map(),
        versions: new Map(),
        version: "",
        names: new Set(),
        requested: false,
        acceptedOnce: false,
      });
    }
  }

  /** node.id of the stream's node: whose config this is. */
  get nodeId(): string {
    return String(this.#opts.node.id ?? "");
  }

  /** The config in service: the last coherent one (empty until the first arrives). */
  get config(): XdsConfig {
    return this.#config;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /**
   * The first configuration is in: Clusters and Listeners were accepted at least once and
   * nothing is warming (Envoy's initial fetch). Stays true through later disconnects.
   */
  get synced(): boolean {
    if (this.#synced) return true;
    const seen = (url: string) => this.#types.get(url)?.acceptedOnce === true;
    this.#synced =
      seen(TypeUrl.Cluster) && seen(TypeUrl.Listener) && this.#config.warming.length === 0;
    return this.#synced;
  }

  /** Calls `listener` with every new config; returns a function that stops it. */
  onConfig(listener: (config: XdsConfig) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    if (this.#closed || this.#stream) return;
    this.#connect();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#stream?.close();
    this.#stream = undefined;
    this.#connected = false;
  }

  status(): TypeStatus[] {
    return [...this.#types.values()].map((t) => ({
      typeUrl: t.typeUrl,
      version: t.version,
      subscribed: WILDCARD_TYPES.has(t.typeUrl) ? "*" : [...t.names].sort(),
      resources: t.resources.size,
      ...(t.lastNack ? { lastNack: t.lastNack } : {}),
    }));
  }

  #connect(): void {
    this.#firstRequest = true;
    for (const t of this.#types.values()) t.requested = false;
    let current: AdsStream | undefined;
    const stream = this.#opts.open(this.#opts.protocol, {
      onResponse: (response) => {
        if (current !== this.#stream || this.#closed) return;
        this.#connected = true;
        this.#attempt = 0;
        this.#onResponse(response);
      },
      onClose: (error) => {
        if (current !== this.#stream || this.#closed) return;
        this.#stream = undefined;
        this.#connected = false;
        this.#reconnectLater(error);
      },
    });
    current = stream;
    this.#stream = stream;
    this.#requestAll();
  }

  #reconnectLater(error?: Error): void {
    const { baseMs = 500, maxMs = 30_000 } = this.#opts.backoff ?? {};
    const random = this.#opts.random ?? Math.random;
    const delay = random() * Math.min(maxMs, baseMs * 2 ** this.#attempt);
    this.#attempt++;
    this.#opts.log?.("xDS stream closed; serving the last good config and reconnecting", {
      error: error?.message,
      attempt: this.#attempt,
      delayMs: Math.round(delay),
    });
    this.#timer = setTimeout(() => {
      if (!this.#closed) this.#connect();
    }, delay);
    this.#timer.unref?.();
  }

  /** A new stream: every type the client needs, with what it already holds. */
  #requestAll(): void {
    for (const typeUrl of TYPES) {
      const t = this.#types.get(typeUrl) as TypeState;
      if (WILDCARD_TYPES.has(typeUrl) || t.names.size > 0) this.#request(t);
    }
  }

  #request(t: TypeState, nack?: { nonce: string; message: string }, nonce?: string): void {
    const stream = this.#stream;
    if (!stream) return;
    const request: XdsMessage = { type_url: t.typeUrl };
    if (this.#firstRequest) {
      request.node = this.#opts.node;
      this.#firstRequest = false;
    }
    const names = WILDCARD_TYPES.has(t.typeUrl) ? [] : [...t.names].sort();
    if (this.#opts.protocol === "sotw") {
      request.version_info = t.version;
      request.resource_names = WILDCARD_TYPES.has(t.typeUrl) ? ["*"] : names;
      if (nonce !== undefined) request.response_nonce = nonce;
    } else if (!t.requested) {
      request.resource_names_subscribe = WILDCARD_TYPES.has(t.typeUrl) ? ["*"] : names;
      if (t.versions.size > 0) request.initial_resource_versions = Object.fromEntries(t.versions);
    }
    if (nack) {
      request.response_nonce = nack.nonce;
      request.error_detail = { code: INVALID_ARGUMENT, message: nack.message };
    }
    t.requested = true;
    stream.send(request);
  }

  #onResponse(response: XdsMessage): void {
    const typeUrl = String(response.type_url ?? "");
    const t = this.#types.get(typeUrl);
    if (!t) {
      this.#opts.log?.("ignoring a response of a type the sidecar does not use", { typeUrl });
      return;
    }
    const nonce = String(response.nonce ?? "");
    const errors: string[] = [];
    const decoded = new Map<string, DecodedResource>();
    const versions = new Map<string, string>();
    const removed =
      this.#opts.protocol === "delta" ? strings(response.removed_resources) : ([] as string[]);
    const entries =
      this.#opts.protocol === "delta"
        ? ((response.resources ?? []) as XdsMessage[]).map((r) => ({
            any: r.resource as { type_url: string; value: Uint8Array } | undefined,
            version: String(r.version ?? ""),
            name: String(r.name ?? ""),
          }))
        : ((response.resources ?? []) as { type_url: string; value: Uint8Array }[]).map((any) => ({
            any,
            version: "",
            name: "",
          }));
    entries.forEach((entry, i) => {
      if (!entry.any) {
        errors.push(`resources[${i}] (${entry.name}): no resource`);
        return;
      }
      const result = decodeResource(typeUrl, entry.any);
      if (!result.ok) {
        const label = result.name ? `${result.name}: ` : `resources[${i}]: `;
        for (const e of result.errors) errors.push(`${label}${e}`);
        return;
      }
      const name = result.resource.name;
      if (entry.name && entry.name !== name) {
        errors.push(`resources[${i}]: named ${entry.name} in the response but ${name} inside`);
        return;
      }
      if (decoded.has(name)) errors.push(`${name}: sent twice in one response`);
      decoded.set(name, result.resource);
      versions.set(name, entry.version);
    });
    const version = String(response.version_info ?? response.system_version_info ?? "");

    if (errors.length > 0) {
      const message = errors.join("; ").slice(0, MAX_NACK_MESSAGE);
      t.lastNack = { version, message, at: new Date() };
      this.#opts.log?.("rejected xDS config (NACK); keeping the last good one", {
        typeUrl,
        version,
        error: message,
      });
      this.#request(t, { nonce, message });
      return;
    }

    this.#accept(t, decoded, versions, removed);
    t.version = version;
    t.acceptedOnce = true;
    if (this.#opts.protocol === "sotw") this.#request(t, undefined, nonce);
    else this.#stream?.send({ type_url: typeUrl, response_nonce: nonce });
    this.#resubscribe();
    this.#publish();
  }

  #accept(
    t: TypeState,
    decoded: Map<string, DecodedResource>,
    versions: Map<string, string>,
    removed: readonly string[],
  ): void {
    const wholeState = this.#opts.protocol === "sotw" && WILDCARD_TYPES.has(t.typeUrl);
    // SotW Listener/Cluster responses are the whole set; other SotW responses and every
    // delta response change only what they name.
    const resources = wholeState ? new Map<string, DecodedResource>() : new Map(t.resources);
    const vers = wholeState ? new Map<string, string>() : new Map(t.versions);
    for (const name of removed) {
      resources.delete(name);
      vers.delete(name);
    }
    for (const [name, r] of decoded) {
      resources.set(name, r);
      vers.set(name, versions.get(name) ?? "");
    }
    t.resources = resources;
    t.versions = vers;
  }

  /** Endpoints, routes and secrets follow what the accepted clusters and listeners name. */
  #resubscribe(): void {
    const clusters = [...(this.#types.get(TypeUrl.Cluster)?.resources.values() ?? [])];
    const listeners = [...(this.#types.get(TypeUrl.Listener)?.resources.values() ?? [])];
    const wanted = new Map<string, Set<string>>([
      [TypeUrl.ClusterLoadAssignment, new Set(clusters.flatMap((c) => c.refs.eds))],
      [TypeUrl.RouteConfiguration, new Set(listeners.flatMap((l) => l.refs.rds))],
      [TypeUrl.Secret, new Set([...clusters, ...listeners].flatMap((r) => r.refs.secrets))],
    ]);
    for (const [typeUrl, names] of wanted) {
      const t = this.#types.get(typeUrl) as TypeState;
      const added = [...names].filter((n) => !t.names.has(n));
      const dropped = [...t.names].filter((n) => !names.has(n));
      if (added.length === 0 && dropped.length === 0) continue;
      t.names = names;
      for (const name of dropped) {
        t.resources.delete(name);
        t.versions.delete(name);
      }
      if (this.#opts.protocol === "sotw" || !t.requested) {
        this.#request(t);
      } else {
        this.#stream?.send({
          type_url: typeUrl,
          resource_names_subscribe: added,
          resource_names_unsubscribe: dropped,
        });
      }
    }
  }

  #publish(): void {
    const accepted: Accepted = new Map([...this.#types].map(([url, t]) => [url, t.resources]));
    const next = assembleConfig(accepted, this.#config);
    if (next === this.#config) return;
    this.#config = next;
    for (const listener of [...this.#listeners]) {
      try {
        listener(next);
      } catch (err) {
        this.#opts.log?.("a config listener failed", { error: (err as Error).message });
      }
    }
  }
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];

// The lifecycle both ADS state machines share, with no transport in it (nats.js style):
// a stream is given `send`/`fail` and fed requests, so tests drive it without sockets.
// It takes the node from the first request, watches that node's snapshot, records ACKs
// and NACKs, calls the hooks, and cleans up on close. SotW and delta differ only in how a
// request changes a subscription and what a response holds.

import { PUSH_ORDER, type XdsMessage } from "../../api/xds-proto.js";
import type { PreparedSnapshot, SnapshotSource } from "./cache.js";
import {
  type Callbacks,
  type GuardedCallbacks,
  guardCallbacks,
  stderrLogger,
  type XdsLogger,
  type XdsProtocol,
} from "./callbacks.js";
import { XdsError } from "./errors.js";
import {
  type NonceVerdict,
  nackMessage,
  nonceVerdict,
  type StreamRegistry,
  StreamState,
  type TypeSubscription,
} from "./stream-state.js";

/** Where a stream's responses go. The gRPC adapter writes them to the call. */
export interface ResponseTransport {
  send(response: XdsMessage): void;
  /** End the stream with an error (the adapter maps it to a gRPC status). */
  fail(error: XdsError): void;
}

export interface AdsStreamOptions {
  source: SnapshotSource;
  transport: ResponseTransport;
  peer?: string;
  callbacks?: Callbacks;
  log?: XdsLogger;
  /** Registers the stream for connections() and hands out its id. */
  registry?: StreamRegistry;
  /** Without a registry: the stream id to use. */
  streamId?: number;
}

const PUSH_RANK = new Map<string, number>(PUSH_ORDER.map((t, i) => [t, i]));

export abstract class AdsStream {
  readonly state: StreamState;
  protected readonly source: SnapshotSource;
  protected readonly hooks: GuardedCallbacks;
  protected readonly log: XdsLogger;
  readonly #transport: ResponseTransport;
  readonly #registry: StreamRegistry | undefined;
  #cancelWatch: (() => void) | undefined;
  #closed = false;

  constructor(protocol: XdsProtocol, options: AdsStreamOptions) {
    this.source = options.source;
    this.#transport = options.transport;
    this.#registry = options.registry;
    this.log = options.log ?? stderrLogger;
    this.hooks = guardCallbacks(options.callbacks ?? {}, this.log);
    const id = options.registry?.nextStreamId() ?? options.streamId ?? 0;
    this.state = new StreamState(id, protocol, options.peer ?? "");
    this.#registry?.add(this.state);
    this.hooks.onStreamOpen(id, protocol, this.state.peer);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Feed one decoded request. Never throws: a bad request fails the stream instead. */
  handleRequest(request: XdsMessage): void {
    if (this.#closed) return;
    const state = this.state;
    if (state.node === undefined) {
      const node = request.node as XdsMessage | undefined;
      if (typeof node?.id !== "string" || node.id === "") {
        this.#fail(
          new XdsError("XDS_NODE_MISSING", "the first request on a stream must carry node.id"),
        );
        return;
      }
      state.node = node;
      state.nodeId = node.id;
      // Watch before the hook runs: a hook that sets the snapshot synchronously is seen.
      this.#cancelWatch = this.source.watch(node.id, (snapshot) => {
        if (snapshot && !this.#closed) this.#pushAll(snapshot);
      });
    }
    this.hooks.onStreamRequest(state.streamId, state.node, request);
    if (this.#closed) return;
    const typeUrl = request.type_url;
    if (typeof typeUrl !== "string" || typeUrl === "") {
      this.#fail(new XdsError("XDS_TYPE_URL_MISSING", "an ADS request must carry type_url"));
      return;
    }
    const sub = state.subscription(typeUrl);
    const verdict = nonceVerdict(sub, request);
    if (verdict === "ack") this.#recordAck(sub);
    else if (verdict === "nack") this.#recordNack(sub, nackMessage(request));
    const first = sub.requests === 0;
    sub.requests++;
    this.onRequest(sub, request, verdict, first);
  }

  /** Ends the stream's watch and registration; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelWatch?.();
    this.#cancelWatch = undefined;
    this.#registry?.remove(this.state.streamId);
    this.hooks.onStreamClosed(this.state.streamId, this.state.nodeId);
  }

  /** Protocol-specific: apply the request to the subscription, respond if owed. */
  protected abstract onRequest(
    sub: TypeSubscription,
    request: XdsMessage,
    verdict: NonceVerdict,
    first: boolean,
  ): void;

  /** Protocol-specific: respond for one type if the snapshot or the subscription says so. */
  protected abstract respond(sub: TypeSubscription, snapshot: PreparedSnapshot): void;

  protected current(): PreparedSnapshot | undefined {
    return this.state.nodeId === "" ? undefined : this.source.prepared(this.state.nodeId);
  }

  /** Respond for `sub` now if the node has a snapshot; otherwise it waits for one. */
  protected respondIfReady(sub: TypeSubscription): void {
    const snapshot = this.current();
    if (snapshot) this.respond(sub, snapshot);
  }

  /** Hands a response to the transport and records it under a new nonce. */
  protected emit(sub: TypeSubscription, version: string, build: (nonce: string) => XdsMessage) {
    const nonce = this.state.nextNonce();
    const response = build(nonce);
    sub.lastSent = { version, nonce, at: new Date() };
    this.#transport.send(response);
    this.hooks.onStreamResponse(this.state.streamId, sub.typeUrl, response);
  }

  /** Every subscribed type, clusters and endpoints before listeners and routes. */
  #pushAll(snapshot: PreparedSnapshot): void {
    const subs = [...this.state.types.values()].sort(
      (a, b) => (PUSH_RANK.get(a.typeUrl) ?? 99) - (PUSH_RANK.get(b.typeUrl) ?? 99),
    );
    for (const sub of subs) {
      if (this.#closed) return;
      this.respond(sub, snapshot);
    }
  }

  #recordAck(sub: TypeSubscription): void {
    const version = sub.lastSent?.version ?? "";
    sub.ackedVersion = version;
    this.hooks.onAck(this.state.streamId, this.state.nodeId, sub.typeUrl, version);
  }

  #recordNack(sub: TypeSubscription, message: string): void {
    const version = sub.lastSent?.version ?? "";
    sub.lastNack = { version, message, at: new Date() };
    this.log.warn("proxy rejected xDS config (NACK)", {
      streamId: this.state.streamId,
      nodeId: this.state.nodeId,
      typeUrl: sub.typeUrl,
      version,
      error: message,
    });
    this.hooks.onNack(this.state.streamId, this.state.nodeId, sub.typeUrl, version, message);
  }

  #fail(error: XdsError): void {
    this.log.warn(`closing xDS stream: ${error.message}`, {
      streamId: this.state.streamId,
      code: error.code,
    });
    this.#transport.fail(error);
    this.close();
  }
}

// What one ADS stream knows, shared by the SotW and delta state machines: per type URL,
// the subscription (wildcard and/or names), what was last sent under which nonce, what the
// proxy ACKed or NACKed; and the registry of live streams that the admin endpoint reads.

import type { XdsMessage } from "../../api/xds-proto.js";
import type { PreparedType } from "./cache.js";
import type { XdsProtocol } from "./callbacks.js";

export interface NackRecord {
  readonly version: string;
  readonly message: string;
  readonly at: Date;
}

/** One type URL on one stream. Mutated only by that stream's state machine. */
export class TypeSubscription {
  wildcard = false;
  /** Names asked for explicitly ("*" is kept as `wildcard`, not here). */
  readonly names = new Set<string>();
  /** SotW: the first request was empty (legacy wildcard) and no named one followed yet. */
  legacyWildcard = false;
  requests = 0;
  /** A response is owed (first request, subscription change) regardless of versions. */
  pending = false;
  /**
   * The PreparedType last looked at: same version and not pending → nothing to do; a new
   * one → push what changed since (typeDiff, computed once for all streams).
   */
  seenType: PreparedType | undefined;
  /** SotW Listener/Cluster: identity of the last view sent (names and versions). */
  sentViewKey: string | undefined;
  /** SotW: the resource_names of the last request as sent, to see an unchanged list fast. */
  requested: readonly string[] = [];
  /**
   * Resource name → version the proxy holds, as far as the server knows (delta), or was last
   * sent (SotW: pushes of the grouped types carry only what differs from it).
   */
  readonly known = new Map<string, string>();
  lastSent: { version: string; nonce: string; at: Date } | undefined;
  ackedVersion: string | undefined;
  lastNack: NackRecord | undefined;

  constructor(readonly typeUrl: string) {}

  /** Whether `name` is covered by the subscription. */
  covers(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }
}

/** How a request's response_nonce relates to what was sent for its type. */
export type NonceVerdict = "fresh" | "ack" | "nack" | "stale";

/**
 * "fresh": no nonce, or nothing sent yet for the type on this stream (a nonce from an
 * earlier stream means nothing here); "ack"/"nack": answers the latest response;
 * "stale": answers an older response (a newer one crossed it in flight).
 */
export function nonceVerdict(sub: TypeSubscription, request: XdsMessage): NonceVerdict {
  const nonce = typeof request.response_nonce === "string" ? request.response_nonce : "";
  if (nonce === "" || sub.lastSent === undefined) return "fresh";
  if (nonce !== sub.lastSent.nonce) return "stale";
  return request.error_detail ? "nack" : "ack";
}

/** error_detail.message of a NACK (a google.rpc.Status). */
export function nackMessage(request: XdsMessage): string {
  const detail = request.error_detail as { message?: unknown; code?: unknown } | undefined;
  const message = typeof detail?.message === "string" ? detail.message : "";
  return message || `rejected (code ${String(detail?.code ?? "unknown")})`;
}

export interface TypeInfo {
  readonly typeUrl: string;
  readonly subscribed: "*" | readonly string[];
  readonly lastSent?: { readonly version: string; readonly nonce: string; readonly at: Date };
  readonly ackedVersion?: string;
  readonly lastNack?: NackRecord;
}

/** One stream, as the admin endpoint shows it. */
export interface ConnectionInfo {
  readonly streamId: number;
  /** "" until the first request names the node. */
  readonly nodeId: string;
  readonly protocol: XdsProtocol;
  readonly peer: string;
  readonly connectedAt: Date;
  readonly types: readonly TypeInfo[];
}

export class StreamState {
  /** The node of the first request, as sent. */
  node: XdsMessage | undefined;
  nodeId = "";
  readonly connectedAt = new Date();
  readonly types = new Map<string, TypeSubscription>();
  #nonce = 0;

  constructor(
    readonly streamId: number,
    readonly protocol: XdsProtocol,
    readonly peer: string,
  ) {}

  subscription(typeUrl: string): TypeSubscription {
    let sub = this.types.get(typeUrl);
    if (!sub) {
      sub = new TypeSubscription(typeUrl);
      this.types.set(typeUrl, sub);
    }
    return sub;
  }

  /** Nonces increase per stream, across types. */
  nextNonce(): string {
    this.#nonce++;
    return String(this.#nonce);
  }

  info(): ConnectionInfo {
    const types: TypeInfo[] = [];
    for (const sub of this.types.values()) {
      types.push({
        typeUrl: sub.typeUrl,
        subscribed: sub.wildcard ? "*" : [...sub.names].sort(),
        ...(sub.lastSent && { lastSent: { ...sub.lastSent } }),
        ...(sub.ackedVersion !== undefined && { ackedVersion: sub.ackedVersion }),
        ...(sub.lastNack && { lastNack: sub.lastNack }),
      });
    }
    return {
      streamId: this.streamId,
      nodeId: this.nodeId,
      protocol: this.protocol,
      peer: this.peer,
      connectedAt: this.connectedAt,
      types,
    };
  }
}

/** The live streams of one server (plaintext and TLS ports together), and their ids. */
export class StreamRegistry {
  readonly #streams = new Map<number, StreamState>();
  #lastId = 0;

  nextStreamId(): number {
    this.#lastId++;
    return this.#lastId;
  }

  add(state: StreamState): void {
    this.#streams.set(state.streamId, state);
  }

  remove(streamId: number): void {
    this.#streams.delete(streamId);
  }

  get size(): number {
    return this.#streams.size;
  }

  connections(): ConnectionInfo[] {
    return [...this.#streams.values()].map((s) => s.info());
  }
}

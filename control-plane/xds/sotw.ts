// State-of-the-world ADS (StreamAggregatedResources) for one stream: every request carries
// the whole subscription for its type. Listener and Cluster responses hold every subscribed
// resource (absence means deletion). The other types (endpoints, routes, secrets) are
// grouped as in the incremental protocol: answering a request, the response holds every
// requested name that exists; pushing a change, only the resources that changed since they
// were last sent (Istio's incremental EDS), so one endpoint change is one small message. A
// name asked for early is sent once it appears. version_info is the type's content version,
// so an unchanged type is not resent.

import { TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import type { EncodedResource, PreparedSnapshot, PreparedType, TypeDiff } from "./cache.js";
import { preparedType, typeDiff } from "./cache.js";
import { AdsStream, type AdsStreamOptions } from "./stream.js";
import type { NonceVerdict, TypeSubscription } from "./stream-state.js";

/** Types whose response is the whole state of the subscription (LDS, CDS). */
const WHOLE_STATE_TYPES = new Set<string>([TypeUrl.Listener, TypeUrl.Cluster]);

export class SotwStream extends AdsStream {
  constructor(options: AdsStreamOptions) {
    super("sotw", options);
  }

  protected override onRequest(
    sub: TypeSubscription,
    request: XdsMessage,
    verdict: NonceVerdict,
    first: boolean,
  ): void {
    // A stale nonce: a newer response crossed this request; its ACK will carry the names.
    if (verdict === "stale") return;
    const names = Array.isArray(request.resource_names) ? (request.resource_names as string[]) : [];
    const changed = applyNames(sub, names, first);
    // No nonce on a later request: the proxy asks afresh (e.g. after its own restart of
    // the type); answer it like a first request.
    if (first || changed || verdict === "fresh") sub.pending = true;
    this.respondIfReady(sub);
  }

  protected override respond(sub: TypeSubscription, snapshot: PreparedSnapshot): void {
    const type = preparedType(snapshot, sub.typeUrl);
    const seen = sub.seenType;
    if (!sub.pending && seen?.version === type.version) return;
    sub.seenType = type;
    if (!WHOLE_STATE_TYPES.has(sub.typeUrl)) {
      if (!sub.pending && seen !== undefined) this.#pushChanges(sub, typeDiff(seen, type), type);
      else this.#answer(sub, type);
      return;
    }
    const view = viewOf(sub, type);
    const key = viewKey(sub, type, view);
    if (!sub.pending && key === sub.sentViewKey) return;
    sub.pending = false;
    sub.sentViewKey = key;
    this.#send(sub, type, view);
  }

  /** A grouped type, asked for: every subscribed resource that exists. */
  #answer(sub: TypeSubscription, type: PreparedType): void {
    const view = viewOf(sub, type);
    // Nothing to show and nothing shown yet: wait (still pending) for a name to appear.
    if (view.length === 0 && !sub.wildcard && sub.known.size === 0) return;
    sub.pending = false;
    this.#send(sub, type, view);
  }

  /**
   * A grouped type, pushed: only the subscribed resources that changed since `type`'s
   * predecessor. Only removals: SotW cannot say "gone" for a grouped type (the proxy drops
   * it with the cluster or listener that named it), so there is nothing to send.
   */
  #pushChanges(sub: TypeSubscription, diff: TypeDiff, type: PreparedType): void {
    for (const name of diff.removed) sub.known.delete(name);
    const sent: ViewEntry[] = [];
    for (const name of diff.changed) {
      const resource = type.resources.get(name);
      if (resource === undefined || !sub.covers(name)) continue;
      sub.known.set(name, resource.version);
      sent.push([name, resource]);
    }
    if (sent.length > 0) this.#emitView(sub, type, sent);
  }

  #send(sub: TypeSubscription, type: PreparedType, view: readonly ViewEntry[]): void {
    sub.known.clear();
    for (const [name, r] of view) sub.known.set(name, r.version);
    this.#emitView(sub, type, view);
  }

  #emitView(sub: TypeSubscription, type: PreparedType, view: readonly ViewEntry[]): void {
    this.emit(sub, type.version, (nonce) => ({
      version_info: type.version,
      type_url: sub.typeUrl,
      nonce,
      resources: view.map(([, r]) => r.any),
    }));
  }
}

/**
 * Applies a SotW request's resource_names. Wildcard when the list holds "*", or when it is
 * empty on the first request (legacy wildcard) and stays empty; an empty list after a
 * named one means no names. Returns whether the subscription changed.
 */
function applyNames(sub: TypeSubscription, names: readonly string[], first: boolean): boolean {
  // An ACK repeats the list it had: with 1,000 EDS names, worth seeing without a Set.
  if (!first && sameList(names, sub.requested)) return false;
  sub.requested = names;
  if (first) sub.legacyWildcard = names.length === 0;
  else if (names.length > 0) sub.legacyWildcard = false;
  const wildcard = names.includes("*") || (names.length === 0 && sub.legacyWildcard);
  const explicit = new Set(names.filter((n) => n !== "*"));
  let changed = wildcard !== sub.wildcard || explicit.size !== sub.names.size;
  if (!changed) {
    for (const n of explicit) {
      if (!sub.names.has(n)) {
        changed = true;
        break;
      }
    }
  }
  sub.wildcard = wildcard;
  sub.names.clear();
  for (const n of explicit) sub.names.add(n);
  return changed;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true; // decoded once and shared (see decodeDiscoveryRequest)
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

type ViewEntry = readonly [name: string, resource: EncodedResource];

/** The resources a response for `sub` carries, sorted by name. */
function viewOf(sub: TypeSubscription, type: PreparedType): ViewEntry[] {
  if (sub.wildcard) return [...type.resources];
  const view: ViewEntry[] = [];
  for (const name of [...sub.names].sort()) {
    const resource = type.resources.get(name);
    if (resource) view.push([name, resource]);
  }
  return view;
}

/** Identifies a view: equal keys, equal responses (but for the nonce). */
function viewKey(sub: TypeSubscription, type: PreparedType, view: readonly ViewEntry[]): string {
  if (sub.wildcard) return `*${type.version}`;
  let key = "";
  for (const [name, r] of view) key += `${name}\0${r.version}\n`;
  return key;
}

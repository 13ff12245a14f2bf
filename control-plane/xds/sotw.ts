// State-of-the-world ADS (StreamAggregatedResources) for one stream: every request carries
// the whole subscription for its type. Listener and Cluster responses hold every subscribed
// resource (absence means deletion). The other types (endpoints, routes, secrets) are
// grouped as in the incremental protocol: answering a request, the response holds every
// requested name that exists; pushing a change, only the resources that changed since they
// were last sent (Istio's incremental EDS), so one endpoint change is one small message. A
// name asked for early is sent once it appears. version_info is the type's content version,
// so an unchanged type is not resent.

import { TypeUrl, type XdsMessage } from "../../api/xds-proto.js";
import type { EncodedResource, PreparedSnapshot, PreparedType } from "./cache.js";
import { preparedType } from "./cache.js";
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
    if (!sub.pending && sub.seenTypeVersion === type.version) return;
    sub.seenTypeVersion = type.version;
    const view = viewOf(sub, type);
    const key = viewKey(sub, type, view);
    if (!sub.pending && key === sub.sentViewKey) return;
    // A named type with nothing to show and nothing shown yet: wait for a name to appear.
    const neverShown = sub.sentViewKey === undefined || sub.sentViewKey === "";
    if (view.length === 0 && !WHOLE_STATE_TYPES.has(sub.typeUrl) && !sub.wildcard && neverShown) {
      return;
    }
    const push = !sub.pending && !WHOLE_STATE_TYPES.has(sub.typeUrl);
    const sent = push ? view.filter(([name, r]) => sub.known.get(name) !== r.version) : view;
    sub.pending = false;
    sub.sentViewKey = key;
    sub.known.clear();
    for (const [name, r] of view) sub.known.set(name, r.version);
    // Only removals: SotW cannot say "gone" for a grouped type (the proxy drops it with the
    // cluster or listener that named it), so there is nothing to send.
    if (sent.length === 0 && view.length > 0) return;
    this.emit(sub, type.version, (nonce) => ({
      version_info: type.version,
      type_url: sub.typeUrl,
      nonce,
      resources: sent.map(([, r]) => r.any),
    }));
  }
}

/**
 * Applies a SotW request's resource_names. Wildcard when the list holds "*", or when it is
 * empty on the first request (legacy wildcard) and stays empty; an empty list after a
 * named one means no names. Returns whether the subscription changed.
 */
function applyNames(sub: TypeSubscription, names: readonly string[], first: boolean): boolean {
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

// Incremental ADS (DeltaAggregatedResources) for one stream: requests subscribe and
// unsubscribe names, responses carry only resources whose version the proxy does not hold
// and the names of subscribed resources that disappeared. The server remembers what it
// sent (TypeSubscription.known), seeded on reconnect by initial_resource_versions.
//
// Choices the protocol leaves open: a subscribed name that does not exist is not answered
// (no removed_resources) until it exists; a stream's first wildcard request is answered
// even when empty, so a proxy waiting for its first CDS/LDS response is not left hanging;
// subscription changes are applied whatever the nonce (they are deltas, and dropping one
// would lose it), while ACK/NACK only count for the latest nonce.

import type { XdsMessage } from "../../api/xds-proto.js";
import type { PreparedSnapshot } from "./cache.js";
import { preparedType, typeDiff } from "./cache.js";
import { AdsStream, type AdsStreamOptions } from "./stream.js";
import type { NonceVerdict, TypeSubscription } from "./stream-state.js";

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];

export class DeltaStream extends AdsStream {
  constructor(options: AdsStreamOptions) {
    super("delta", options);
  }

  protected override onRequest(
    sub: TypeSubscription,
    request: XdsMessage,
    _verdict: NonceVerdict,
    first: boolean,
  ): void {
    const subscribe = strings(request.resource_names_subscribe);
    const unsubscribe = strings(request.resource_names_unsubscribe);
    if (first) {
      sub.wildcard = subscribe.length === 0;
      sub.pending = true;
      const initial = request.initial_resource_versions as Record<string, unknown> | undefined;
      for (const [name, version] of Object.entries(initial ?? {})) {
        if (typeof version === "string") sub.known.set(name, version);
      }
    }
    for (const name of subscribe) {
      if (name === "*") sub.wildcard = true;
      else sub.names.add(name);
    }
    for (const name of unsubscribe) {
      if (name === "*") {
        sub.wildcard = false;
        // The proxy drops what only the wildcard gave it; resend if asked again.
        for (const known of [...sub.known.keys()])
          if (!sub.names.has(known)) sub.known.delete(known);
      } else {
        sub.names.delete(name);
        if (!sub.wildcard) sub.known.delete(name);
      }
    }
    if (subscribe.length > 0 || unsubscribe.length > 0) sub.pending = true;
    this.respondIfReady(sub);
  }

  protected override respond(sub: TypeSubscription, snapshot: PreparedSnapshot): void {
    const type = preparedType(snapshot, sub.typeUrl);
    const seen = sub.seenType;
    if (!sub.pending && seen?.version === type.version) return;
    sub.seenType = type;
    const answerEmpty = sub.pending && sub.wildcard && sub.lastSent === undefined;

    const resources: { name: string; version: string; resource: XdsMessage }[] = [];
    const removed: string[] = [];
    if (!sub.pending && seen !== undefined) {
      // A push: only what changed since the type this stream last saw can differ.
      const diff = typeDiff(seen, type);
      for (const name of diff.removed) if (sub.known.has(name)) removed.push(name);
      for (const name of diff.changed) {
        if (sub.covers(name) && sub.known.get(name) !== type.resources.get(name)?.version) {
          resources.push(entry(name));
        }
      }
    } else {
      for (const [name, version] of sub.known) {
        if (!sub.covers(name)) sub.known.delete(name);
        else if (!type.resources.has(name)) removed.push(name);
        else if (type.resources.get(name)?.version !== version) resources.push(entry(name));
      }
      const candidates = sub.wildcard ? type.resources.keys() : sub.names.values();
      for (const name of candidates) {
        if (!sub.known.has(name) && type.resources.has(name)) resources.push(entry(name));
      }
    }
    sub.pending = false;
    if (resources.length === 0 && removed.length === 0 && !answerEmpty) return;

    for (const r of resources) sub.known.set(r.name, r.version);
    for (const name of removed) sub.known.delete(name);
    resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.emit(sub, snapshot.version, (nonce) => ({
      system_version_info: snapshot.version,
      type_url: sub.typeUrl,
      nonce,
      resources,
      removed_resources: removed,
    }));

    function entry(name: string) {
      const r = type.resources.get(name);
      if (!r) throw new Error(`unreachable: ${name} vanished from ${type.typeUrl}`);
      return { name, version: r.version, resource: r.any as unknown as XdsMessage };
    }
  }
}

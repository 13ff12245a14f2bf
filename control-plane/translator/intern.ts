// Interning across compiles. Every model change compiles the whole mesh again, which makes
// new message objects for resources that did not change; the xDS cache encodes by object
// identity, so it would encode all of them again. The Interner puts back, under the same
// label and name, the previous compile's object wherever the new one has the same content
// (its JSON), and the previous Map wherever no entry changed. One endpoint change then
// costs one new ClusterLoadAssignment to encode, and every other type keeps its Map — and
// so its prepared encoding and version — from one compile to the next.

import { createHash } from "node:crypto";
import type { XdsMessage } from "../../api/xds-proto.js";
import type { ResourceMap } from "../xds/types.js";

interface InternedMap {
  readonly map: ResourceMap;
  /** Each entry's JSON, the content that equality is judged on. */
  readonly json: ReadonlyMap<string, string>;
  /** Hash of every (name, JSON): the map's contribution to a compile's digest. */
  readonly digest: string;
}

/** What one compile interned, by label: the previous table of the next compile. */
export type InternTable = ReadonlyMap<string, InternedMap>;

export class Interner {
  readonly #previous: InternTable;
  readonly #table = new Map<string, InternedMap>();
  /** JSON by message object, so a message shared by several maps is serialized once. */
  readonly #json = new WeakMap<object, string>();

  constructor(previous: InternTable = new Map()) {
    this.#previous = previous;
  }

  get table(): InternTable {
    return this.#table;
  }

  /**
   * `map` with every message that equals the previous compile's message of the same label
   * and name replaced by that one; the previous Map itself when nothing changed. Interning
   * a label twice in one compile returns the first result.
   */
  map(label: string, map: ResourceMap): ResourceMap {
    const done = this.#table.get(label);
    if (done) return done.map;
    const previous = this.#previous.get(label);
    const json = new Map<string, string>();
    const out = new Map<string, XdsMessage>();
    let unchanged = previous !== undefined && previous.map.size === map.size;
    for (const [name, message] of map) {
      const text = this.#jsonOf(message);
      json.set(name, text);
      const kept = previous?.json.get(name) === text ? previous.map.get(name) : undefined;
      if (kept === undefined) unchanged = false;
      else this.#json.set(kept, text);
      out.set(name, kept ?? message);
    }
    const interned: InternedMap =
      unchanged && previous ? previous : { map: out, json, digest: digestOf(json) };
    this.#table.set(label, interned);
    return interned.map;
  }

  /** One message, interned as a map of one under `label`. */
  one(label: string, message: XdsMessage): XdsMessage {
    return this.map(label, new Map([["", message]])).get("") as XdsMessage;
  }

  /** A hash of the maps interned under `labels` (in that order): equal content, equal digest. */
  digest(labels: readonly string[]): string {
    const hash = createHash("sha256");
    for (const label of labels) {
      hash.update(`${label}\u0000${this.#table.get(label)?.digest ?? "-"}\u0001`);
    }
    return hash.digest("hex");
  }

  #jsonOf(message: XdsMessage): string {
    let text = this.#json.get(message);
    if (text === undefined) {
      text = JSON.stringify(message);
      this.#json.set(message, text);
    }
    return text;
  }
}

function digestOf(json: ReadonlyMap<string, string>): string {
  const hash = createHash("sha256");
  for (const name of [...json.keys()].sort()) {
    hash.update(`${name}\u0000${json.get(name)}\u0001`);
  }
  return hash.digest("hex");
}

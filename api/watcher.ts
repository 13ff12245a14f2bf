// One watch on the MemoryStore: a queue of events for one kind (and namespace) that the
// store offers to and an async iterator drains. Bounded: a consumer that falls too far
// behind is ended with GONE instead of holding an unbounded backlog. `return()` and `end()`
// finish a pending `next()` at once, so an aborted watch never hangs its consumer.

import { StoreError, type WatchEvent, type WatchEventType } from "./store.js";
import type { Kind, Resource } from "./types.js";

/** An event as the store records it: the object is the store's own, never handed out. */
export interface Recorded {
  readonly type: WatchEventType;
  readonly object: Resource;
}

/** Compact the queue once this many delivered slots have piled up at its head. */
const COMPACT_AFTER = 1024;

export class Watcher<K extends Kind = Kind> implements AsyncIterableIterator<WatchEvent<K>> {
  #queue: (Recorded | undefined)[] = [];
  #head = 0;
  #waiting:
    | { resolve: (r: IteratorResult<WatchEvent<K>>) => void; reject: (e: Error) => void }
    | undefined;
  #done = false;
  #error: Error | undefined;

  constructor(
    readonly kind: K,
    readonly namespace: string | undefined,
    readonly maxBacklog: number,
    private readonly onEnd: () => void,
  ) {}

  /** Queues `ev` when it is for this watch. */
  offer(ev: Recorded): void {
    if (this.#done || ev.object.kind !== this.kind) return;
    if (this.namespace !== undefined && ev.object.metadata.namespace !== this.namespace) return;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting.resolve({ value: toEvent<K>(ev), done: false });
      return;
    }
    if (this.#queue.length - this.#head >= this.maxBacklog) {
      this.fail(
        new StoreError(
          "GONE",
          `the watch of ${this.kind} fell more than ${this.maxBacklog} events behind and was ended: list again and watch from the list's resourceVersion`,
        ),
      );
      return;
    }
    this.#queue.push(ev);
  }

  next(): Promise<IteratorResult<WatchEvent<K>>> {
    if (this.#head < this.#queue.length) {
      const ev = this.#queue[this.#head] as Recorded;
      this.#queue[this.#head++] = undefined;
      if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value: toEvent<K>(ev), done: false });
    }
    if (this.#error) {
      const err = this.#error;
      this.#error = undefined;
      return Promise.reject(err);
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<WatchEvent<K>>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends the watch: undelivered events are dropped, a pending next() returns done. */
  end(): void {
    if (this.#done) return;
    this.#finish();
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.resolve({ value: undefined, done: true });
  }

  /** Ends the watch with an error: the next next() rejects with it. */
  fail(err: Error): void {
    if (this.#done) return;
    this.#finish();
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) waiting.reject(err);
    else this.#error = err;
  }

  #finish(): void {
    this.#done = true;
    this.#queue = [];
    this.#head = 0;
    this.onEnd();
  }
}

function toEvent<K extends Kind>(ev: Recorded): WatchEvent<K> {
  return { type: ev.type, object: structuredClone(ev.object) as WatchEvent<K>["object"] };
}

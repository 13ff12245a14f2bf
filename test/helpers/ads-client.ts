// A scripted ADS client for tests and benchmarks: open SotW or delta streams over
// @grpc/grpc-js, send any request, await the next response (bounded, with a clear error),
// ACK or NACK it. Lean on purpose: a benchmark opens thousands of these streams.

import * as grpc from "@grpc/grpc-js";
import { adsServiceDefinition, unpackAny, type XdsMessage } from "../../api/xds-proto.js";

/** How long next() waits for a response unless told otherwise. */
export const RESPONSE_TIMEOUT_MS = 2_000;

const AdsClientCtor = grpc.makeGenericClientConstructor(
  adsServiceDefinition() as unknown as grpc.ServiceDefinition,
  "AggregatedDiscoveryService",
);

export interface AdsClientOptions {
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
}

/** One channel to the control plane; streams multiplex over it. */
export class AdsClient {
  readonly #client: grpc.Client & Record<string, (...a: unknown[]) => unknown>;

  constructor(target: string, options: AdsClientOptions = {}) {
    this.#client = new AdsClientCtor(
      target,
      options.credentials ?? grpc.credentials.createInsecure(),
      options.channelOptions ?? {},
    ) as unknown as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  }

  /** A StreamAggregatedResources stream. `node` goes on the first request (null: never). */
  sotw(node: XdsMessage | null): ScriptedStream {
    const call = this.#client.StreamAggregatedResources?.() as grpc.ClientDuplexStream<
      XdsMessage,
      XdsMessage
    >;
    return new ScriptedStream("sotw", call, node);
  }

  /** A DeltaAggregatedResources stream. */
  delta(node: XdsMessage | null): ScriptedStream {
    const call = this.#client.DeltaAggregatedResources?.() as grpc.ClientDuplexStream<
      XdsMessage,
      XdsMessage
    >;
    return new ScriptedStream("delta", call, node);
  }

  close(): void {
    this.#client.close();
  }
}

type Waiter = { resolve: (r: XdsMessage) => void; reject: (e: Error) => void };

export class ScriptedStream {
  readonly #queue: XdsMessage[] = [];
  readonly #waiters: Waiter[] = [];
  /** resource_names last sent per type (SotW ACKs repeat them). */
  readonly #names = new Map<string, string[]>();
  #node: XdsMessage | null;
  #error: Error | undefined;
  #received = 0;
  /** Settles with the stream's final status (OK or the error's). */
  readonly status: Promise<grpc.StatusObject>;

  constructor(
    readonly kind: "sotw" | "delta",
    readonly call: grpc.ClientDuplexStream<XdsMessage, XdsMessage>,
    node: XdsMessage | null,
  ) {
    this.#node = node;
    this.status = new Promise((resolve) => call.on("status", resolve));
    call.on("data", (response: XdsMessage) => {
      this.#received++;
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(response);
      else this.#queue.push(response);
    });
    call.on("error", (err: Error) => {
      this.#error = err;
      for (const w of this.#waiters.splice(0)) w.reject(err);
    });
  }

  /** Sends `request` (node added to the first one; SotW names remembered for ACKs). */
  send(request: XdsMessage): void {
    const msg = this.#node ? { node: this.#node, ...request } : request;
    this.#node = null;
    if (this.kind === "sotw" && typeof request.type_url === "string") {
      this.#names.set(request.type_url, (request.resource_names as string[] | undefined) ?? []);
    }
    this.call.write(msg);
  }

  /** The next response, or an error after `timeoutMs` (or when the stream fails). */
  next(timeoutMs = RESPONSE_TIMEOUT_MS): Promise<XdsMessage> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(
          new Error(
            `no ${this.kind} xDS response within ${timeoutMs} ms (${this.#received} received so far)`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Resolves if no response arrives within `ms`; rejects with the one that did. */
  async expectNone(ms = 150): Promise<void> {
    const got = await this.next(ms).then(
      (r) => r,
      () => undefined,
    );
    if (got) throw new Error(`expected no response, got ${JSON.stringify(summary(got))}`);
  }

  /** Responses received and not yet taken by next(). */
  get buffered(): number {
    return this.#queue.length;
  }

  ack(response: XdsMessage): void {
    this.send(this.#answer(response));
  }

  nack(response: XdsMessage, message: string): void {
    this.send({ ...this.#answer(response), error_detail: { code: 3, message } });
  }

  #answer(response: XdsMessage): XdsMessage {
    const typeUrl = response.type_url as string;
    if (this.kind === "delta") return { type_url: typeUrl, response_nonce: response.nonce };
    return {
      type_url: typeUrl,
      version_info: response.version_info,
      response_nonce: response.nonce,
      resource_names: this.#names.get(typeUrl) ?? [],
    };
  }

  /** Half-closes and waits for the final status. */
  async end(): Promise<grpc.StatusObject> {
    this.call.end();
    return this.status;
  }

  cancel(): void {
    this.call.cancel();
  }
}

/** A SotW response's resources, unpacked (in the order sent). */
export function sotwResources(response: XdsMessage): XdsMessage[] {
  const anys = (response.resources as { type_url: string; value: Uint8Array }[] | undefined) ?? [];
  return anys.map((a) => unpackAny(a));
}

/** A delta response's resources: name, version and the unpacked message. */
export function deltaResources(
  response: XdsMessage,
): { name: string; version: string; message: XdsMessage }[] {
  const list =
    (response.resources as
      | { name: string; version: string; resource: { type_url: string; value: Uint8Array } }[]
      | undefined) ?? [];
  return list.map((r) => ({ name: r.name, version: r.version, message: unpackAny(r.resource) }));
}

/** The names in a response (SotW: from each resource's name / cluster_name). */
export function responseNames(response: XdsMessage): string[] {
  if (Array.isArray(response.resources) && response.resources[0]?.name !== undefined) {
    return (response.resources as { name: string }[]).map((r) => r.name);
  }
  return sotwResources(response).map((m) => String(m.name ?? m.cluster_name ?? ""));
}

function summary(r: XdsMessage) {
  return {
    type_url: r.type_url,
    nonce: r.nonce,
    names: responseNames(r),
    removed: r.removed_resources,
  };
}

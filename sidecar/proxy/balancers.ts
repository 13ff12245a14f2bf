// Load balancers, grpc-js-xds style: the state a balancer needs (the endpoint set, requests
// in flight per endpoint) is kept apart from picking; each endpoint set gets an immutable
// picker, and a request only calls pick(). Round robin; random; least request as Envoy
// does it (the better of two random choices, by requests in flight); ring hash (a
// consistent-hash ring with many points per endpoint, so adding one endpoint moves only
// its share of the keys). Pure but for the random source and the in-flight counts.

import { createHash } from "node:crypto";
import { Tally } from "./tally.js";

export type LbPolicy = "ROUND_ROBIN" | "RANDOM" | "LEAST_REQUEST" | "RING_HASH";

export interface BalancedEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface PickContext {
  /** RING_HASH: what to hash (a header, the source IP); absent: a random point. */
  readonly hashKey?: string;
}

export interface Picker<E extends BalancedEndpoint> {
  pick(context?: PickContext): E;
}

/** Requests in flight per endpoint (address:port), shared by a cluster's pickers. */
export class InFlight {
  readonly #tally = new Tally();

  count(e: BalancedEndpoint): number {
    return this.#tally.count(`${e.address}:${e.port}`);
  }

  /** Counts one request to `e`; call the result when it ends. */
  begin(e: BalancedEndpoint): () => void {
    return this.#tally.begin(`${e.address}:${e.port}`);
  }
}

/**
 * Points per endpoint. Fixed, unlike Envoy's (which spreads minimum_ring_size 1024 over
 * the endpoints): with a fixed count an endpoint's points do not move when another joins,
 * so only the keys the newcomer takes over change endpoint.
 */
const POINTS_PER_ENDPOINT = 256;

export function makePicker<E extends BalancedEndpoint>(
  policy: LbPolicy,
  endpoints: readonly E[],
  inFlight: InFlight,
  random: () => number = Math.random,
): Picker<E> {
  if (endpoints.length === 0) throw new RangeError("a picker needs at least one endpoint");
  const at = (i: number) => endpoints[i % endpoints.length] as E;
  switch (policy) {
    case "RANDOM":
      return { pick: () => at(Math.floor(random() * endpoints.length)) };
    case "LEAST_REQUEST":
      return {
        pick: () => {
          if (endpoints.length === 1) return at(0);
          const a = at(Math.floor(random() * endpoints.length));
          const b = at(Math.floor(random() * endpoints.length));
          return inFlight.count(b) < inFlight.count(a) ? b : a;
        },
      };
    case "RING_HASH":
      return ringPicker(endpoints, random);
    default: {
      // Start at a random offset, so that sidecars started together do not all begin
      // with the same endpoint.
      let next = Math.floor(random() * endpoints.length);
      return { pick: () => at(next++) };
    }
  }
}

function hash64(text: string): bigint {
  return createHash("sha256").update(text).digest().readBigUInt64BE(0);
}

function ringPicker<E extends BalancedEndpoint>(
  endpoints: readonly E[],
  random: () => number,
): Picker<E> {
  const perEndpoint = POINTS_PER_ENDPOINT;
  const ring: { point: bigint; endpoint: E }[] = [];
  for (const endpoint of endpoints) {
    for (let i = 0; i < perEndpoint; i++) {
      ring.push({ point: hash64(`${endpoint.address}:${endpoint.port}_${i}`), endpoint });
    }
  }
  ring.sort((x, y) => (x.point < y.point ? -1 : x.point > y.point ? 1 : 0));
  return {
    pick(context) {
      const key =
        context?.hashKey !== undefined
          ? hash64(context.hashKey)
          : BigInt(Math.floor(random() * 2 ** 52)) << 12n;
      // The first point at or after the key's hash, wrapping around.
      let lo = 0;
      let hi = ring.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((ring[mid] as { point: bigint }).point < key) lo = mid + 1;
        else hi = mid;
      }
      return (ring[lo % ring.length] as { endpoint: E }).endpoint;
    },
  };
}

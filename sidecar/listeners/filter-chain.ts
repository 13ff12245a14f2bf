// Which filter chain of a listener takes a connection, by Envoy's rules: the criteria are
// applied in order — destination port, destination IP, transport protocol — and at each
// one the most specific chains that match stay (an exact port beats no port, a longer
// prefix beats a shorter one, "tls" beats unset); a criterion no chain matches means no
// chain at all, and then the listener's default_filter_chain. Pure.

import { isIP } from "node:net";
import type { XdsMessage } from "../../api/xds-proto.js";

export interface ConnectionFacts {
  /** The original destination (SO_ORIGINAL_DST, or the local address when not redirected). */
  readonly destinationIp: string;
  readonly destinationPort: number;
  /** "tls" when the first bytes are a TLS ClientHello, else "raw_buffer". */
  readonly transportProtocol: "tls" | "raw_buffer";
}

export interface SelectedChain {
  readonly chain: XdsMessage;
  /** The chain's name, "default" for the default_filter_chain. */
  readonly name: string;
}

type Match = {
  destination_port?: { value?: number };
  prefix_ranges?: { address_prefix?: string; prefix_len?: { value?: number } }[];
  transport_protocol?: string;
};

const matchOf = (chain: XdsMessage): Match => (chain.filter_chain_match ?? {}) as Match;

export function selectFilterChain(
  listener: XdsMessage,
  facts: ConnectionFacts,
): SelectedChain | undefined {
  let candidates = (listener.filter_chains ?? []) as XdsMessage[];
  candidates = mostSpecific(candidates, (m) => {
    const port = m.destination_port?.value;
    if (port === undefined) return 0;
    return port === facts.destinationPort ? 1 : -1;
  });
  candidates = mostSpecific(candidates, (m) => {
    const ranges = m.prefix_ranges ?? [];
    if (ranges.length === 0) return 0;
    let best = -1;
    for (const r of ranges) {
      const len = r.prefix_len?.value ?? 0;
      if (inPrefix(facts.destinationIp, r.address_prefix ?? "", len))
        best = Math.max(best, len + 1);
    }
    return best;
  });
  candidates = mostSpecific(candidates, (m) => {
    if (!m.transport_protocol) return 0;
    return m.transport_protocol === facts.transportProtocol ? 1 : -1;
  });
  const chain = candidates[0];
  if (chain) return { chain, name: String(chain.name ?? "") };
  const fallback = listener.default_filter_chain as XdsMessage | undefined;
  return fallback ? { chain: fallback, name: String(fallback.name ?? "default") } : undefined;
}

/** The chains with the highest score; a score below 0 is no match. */
function mostSpecific(chains: XdsMessage[], score: (m: Match) => number): XdsMessage[] {
  let best = -1;
  let out: XdsMessage[] = [];
  for (const chain of chains) {
    const s = score(matchOf(chain));
    if (s < 0) continue;
    if (s > best) {
      best = s;
      out = [chain];
    } else if (s === best) {
      out.push(chain);
    }
  }
  return out;
}

/** Whether `ip` is in `prefix`/`len` (IPv4 or IPv6; mixed families never match). */
export function inPrefix(ip: string, prefix: string, len: number): boolean {
  const a = bytesOf(ip);
  const b = bytesOf(prefix);
  if (!a || !b || a.length !== b.length) return false;
  const bits = Math.min(len, a.length * 8);
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3;
    const mask = 0x80 >> (i & 7);
    if (((a[byte] ?? 0) & mask) !== ((b[byte] ?? 0) & mask)) return false;
  }
  return true;
}

function bytesOf(ip: string): number[] | undefined {
  const v4 = ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  if (isIP(v4) === 4) return v4.split(".").map(Number);
  if (isIP(ip) !== 6) return undefined;
  const [head = "", tail = ""] = ip.split("::");
  const groups = (s: string) => (s ? s.split(":") : []);
  const h = groups(head);
  const t = groups(tail);
  const all = ip.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return all.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 255];
  });
}

// IP addresses and CIDR blocks as the validators, the EndpointSlice controller and the
// NetworkPolicy code need them: the family of an address, and whether one block lies
// inside another. Pure functions over strings; addresses become bigints to compare.

import { isIPv4, isIPv6 } from "node:net";

export type IpFamily = "IPv4" | "IPv6";

/** "IPv4", "IPv6", or undefined when `text` is not an IP literal. */
export function ipFamily(text: string): IpFamily | undefined {
  if (isIPv4(text)) return "IPv4";
  if (isIPv6(text) && !text.includes("%")) return "IPv6";
  return undefined;
}

export interface Cidr {
  readonly family: IpFamily;
  /** The network address (host bits cleared). */
  readonly network: bigint;
  readonly prefix: number;
}

/** A CIDR like "10.0.0.0/8" or "fd00::/64"; host bits are allowed (and cleared), as Kubernetes does. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const addr = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = ipFamily(addr);
  if (family === undefined || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const bits = family === "IPv4" ? 32 : 128;
  if (prefix > bits) return undefined;
  const value = ipToBigInt(addr);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  return { family, network: value & ~hostMask, prefix };
}

/** Whether `inner` is inside `outer` (same family, at least as long a prefix). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false;
  const bits = outer.family === "IPv4" ? 32 : 128;
  const shift = BigInt(bits - outer.prefix);
  return inner.network >> shift === outer.network >> shift;
}

/** The address as a number; the caller has checked it with ipFamily. */
export function ipToBigInt(addr: string): bigint {
  if (isIPv4(addr)) {
    return addr.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  }
  let text = addr;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4?.[1] !== undefined) {
    const n = ipToBigInt(v4[1]);
    text = `${text.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const headParts = head === "" ? [] : head.split(":");
  const tailParts = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - headParts.length - tailParts.length;
  const parts = [
    ...headParts,
    ...Array<string>(tail === undefined ? 0 : missing).fill("0"),
    ...tailParts,
  ];
  return parts.reduce((acc, part) => (acc << 16n) | BigInt(Number.parseInt(part, 16)), 0n);
}

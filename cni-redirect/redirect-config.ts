// What to redirect for one pod: decided from its namespace and annotations (pure).
// The ports and the sidecar's exemption are the contract with sidecar/: the sidecar's
// own sockets carry SO_MARK 0x539 (1337) or run as uid 1337, and are never redirected.

import { isIPv4, isIPv6 } from "node:net";
import { CniCode, CniError } from "./protocol.js";

/** The sidecar's listeners and its exemption, shared with sidecar/. */
export const SIDECAR = {
  outboundPort: 15001,
  inboundPort: 15006,
  dnsPort: 15053,
  /** Ports of the sidecar's own listeners: never redirected inbound. */
  ownPorts: [15000, 15001, 15006, 15020, 15021, 15053, 15090],
  uid: 1337,
  mark: 0x539,
} as const;

/** Pod annotations trellis-cni reads (the Istio equivalents in parentheses). */
export const Annotation = {
  /** "true": the pod has a sidecar (sidecar.istio.io/inject). */
  inject: "sidecar.trellis.dev/inject",
  excludeOutboundPorts: "traffic.trellis.dev/exclude-outbound-ports",
  excludeInboundPorts: "traffic.trellis.dev/exclude-inbound-ports",
  excludeOutboundIpRanges: "traffic.trellis.dev/exclude-outbound-ip-ranges",
  /** "true": DNS (UDP and TCP port 53) goes to the sidecar's DNS proxy (proxy.istio.io/config ISTIO_META_DNS_CAPTURE). */
  captureDns: "traffic.trellis.dev/capture-dns",
} as const;

export interface RedirectConfig {
  readonly outboundPort: number;
  readonly inboundPort: number;
  readonly dnsPort: number;
  readonly sidecarUid: number;
  readonly sidecarMark: number;
  readonly inboundExemptPorts: readonly number[];
  readonly excludeInboundPorts: readonly number[];
  readonly excludeOutboundPorts: readonly number[];
  readonly excludeOutboundCidrs: {
    readonly ipv4: readonly string[];
    readonly ipv6: readonly string[];
  };
  readonly captureDns: boolean;
}

export type RedirectDecision =
  | { readonly meshed: true; readonly config: RedirectConfig }
  | { readonly meshed: false; readonly reason: string };

function invalid(annotation: string, value: string, why: string): CniError {
  return new CniError(
    CniCode.INVALID_CONFIG,
    `pod annotation ${annotation}=${JSON.stringify(value)}: ${why}`,
  );
}

function parsePorts(annotation: string, value: string | undefined): number[] {
  if (!value?.trim()) return [];
  return [
    ...new Set(
      value.split(",").map((p) => {
        const n = Number(p.trim());
        if (!Number.isInteger(n) || n < 1 || n > 65535 || !/^\s*\d+\s*$/.test(p)) {
          throw invalid(annotation, value, `${JSON.stringify(p.trim())} is not a port (1-65535)`);
        }
        return n;
      }),
    ),
  ].sort((a, b) => a - b);
}

/** An address as a BigInt and its width, or undefined. */
function parseAddress(text: string): { value: bigint; bits: 32 | 128 } | undefined {
  if (isIPv4(text)) {
    return { value: text.split(".").reduce((n, o) => (n << 8n) | BigInt(o), 0n), bits: 32 };
  }
  if (!isIPv6(text) || text.includes(".")) return undefined;
  const [head = "", tail = ""] = text.split("::");
  const groups = (part: string) => (part ? part.split(":") : []);
  const h = groups(head);
  const t = text.includes("::") ? groups(tail) : [];
  const all = text.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return {
    value: all.reduce((n, g) => (n << 16n) | BigInt(Number.parseInt(g, 16)), 0n),
    bits: 128,
  };
}

function formatAddress(value: bigint, bits: 32 | 128): string {
  if (bits === 32) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) =>
    ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16),
  );
  // RFC 5952: the longest run (≥ 2) of zero groups becomes "::".
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(":");
  return `${groups.slice(0, best.at).join(":")}::${groups.slice(best.at + best.len).join(":")}`;
}

interface Cidr {
  readonly network: bigint;
  readonly prefix: number;
  readonly bits: 32 | 128;
}

/** nft's canonical spelling: the network address, and no /32 or /128 on a single address. */
const formatCidr = (c: Cidr): string =>
  c.prefix === c.bits
    ? formatAddress(c.network, c.bits)
    : `${formatAddress(c.network, c.bits)}/${c.prefix}`;

const contains = (outer: Cidr, inner: Cidr): boolean =>
  outer.bits === inner.bits &&
  outer.prefix <= inner.prefix &&
  inner.network >> BigInt(outer.bits - outer.prefix) ===
    outer.network >> BigInt(outer.bits - outer.prefix);

function parseCidrs(
  annotation: string,
  value: string | undefined,
): RedirectConfig["excludeOutboundCidrs"] {
  const cidrs: Cidr[] = [];
  for (const raw of (value ?? "")
    .split(",")
    .map((c) => c.trim())
    .filter(Boolean)) {
    const [addressText = "", prefixText] = raw.split("/");
    const address = parseAddress(addressText);
    const prefix =
      prefixText === undefined
        ? address?.bits
        : /^\d{1,3}$/.test(prefixText)
          ? Number(prefixText)
          : Number.NaN;
    if (!address || prefix === undefined || !(prefix >= 0 && prefix <= address.bits)) {
      throw invalid(annotation, value ?? "", `${raw} is not an IP address or CIDR`);
    }
    const hostBits = BigInt(address.bits - prefix);
    cidrs.push({ network: (address.value >> hostBits) << hostBits, prefix, bits: address.bits });
  }
  // Overlapping intervals are an error in an nftables set: keep only the widest.
  const kept = cidrs.filter(
    (c, i) => !cidrs.some((o, j) => j !== i && contains(o, c) && (o.prefix < c.prefix || j < i)),
  );
  kept.sort((a, b) =>
    a.network < b.network ? -1 : a.network > b.network ? 1 : a.prefix - b.prefix,
  );
  return {
    ipv4: kept.filter((c) => c.bits === 32).map(formatCidr),
    ipv6: kept.filter((c) => c.bits === 128).map(formatCidr),
  };
}

function parseBool(annotation: string, value: string | undefined): boolean {
  if (value === undefined || value === "" || value === "false") return false;
  if (value === "true") return true;
  throw invalid(annotation, value, 'want "true" or "false"');
}

/** The redirect for a pod, or why it has none. Bad annotations are errors (the pod fails to start). */
export function decideRedirect(pod: {
  readonly namespace: string;
  readonly name: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly excludeNamespaces: readonly string[];
}): RedirectDecision {
  const a = pod.annotations;
  if (pod.excludeNamespaces.includes(pod.namespace)) {
    return { meshed: false, reason: `namespace ${pod.namespace} is excluded` };
  }
  if (!parseBool(Annotation.inject, a[Annotation.inject])) {
    return {
      meshed: false,
      reason: `${pod.namespace}/${pod.name} has no ${Annotation.inject}: "true" annotation`,
    };
  }
  return {
    meshed: true,
    config: {
      outboundPort: SIDECAR.outboundPort,
      inboundPort: SIDECAR.inboundPort,
      dnsPort: SIDECAR.dnsPort,
      sidecarUid: SIDECAR.uid,
      sidecarMark: SIDECAR.mark,
      inboundExemptPorts: SIDECAR.ownPorts,
      excludeInboundPorts: parsePorts(
        Annotation.excludeInboundPorts,
        a[Annotation.excludeInboundPorts],
      ),
      excludeOutboundPorts: parsePorts(
        Annotation.excludeOutboundPorts,
        a[Annotation.excludeOutboundPorts],
      ),
      excludeOutboundCidrs: parseCidrs(
        Annotation.excludeOutboundIpRanges,
        a[Annotation.excludeOutboundIpRanges],
      ),
      captureDns: parseBool(Annotation.captureDns, a[Annotation.captureDns]),
    },
  };
}

// The redirect rules as an nftables table of their own (`inet trellis`), built as text in
// exactly the form `nft list table` prints, so that CHECK can compare listing and
// expectation byte for byte. Pure: config in, script out.

import type { RedirectConfig } from "./redirect-config.js";

export const NFT_TABLE = "inet trellis";

/** `{ a, b }`, or a bare element when there is one: nft's own spelling. */
const set = (items: readonly (string | number)[]): string =>
  items.length === 1 ? String(items[0]) : `{ ${items.join(", ")} }`;

const hexMark = (mark: number): string => `0x${mark.toString(16).padStart(8, "0")}`;

/** The table, as `nft list table inet trellis` prints it. */
export function nftTable(c: RedirectConfig): string {
  const inbound = [
    `tcp dport ${set(c.inboundExemptPorts)} return`,
    ...(c.excludeInboundPorts.length ? [`tcp dport ${set(c.excludeInboundPorts)} return`] : []),
    `meta l4proto tcp redirect to :${c.inboundPort}`,
  ];
  const outbound = [
    // Loopback (app ↔ localhost, sidecar → app) and the sidecar's own traffic go straight out.
    `oifname "lo" return`,
    `meta mark ${hexMark(c.sidecarMark)} return`,
    `meta skuid ${c.sidecarUid} return`,
    ...(c.captureDns
      ? [`udp dport 53 redirect to :${c.dnsPort}`, `tcp dport 53 redirect to :${c.dnsPort}`]
      : []),
    ...(c.excludeOutboundCidrs.ipv4.length
      ? [`ip daddr ${set(c.excludeOutboundCidrs.ipv4)} return`]
      : []),
    ...(c.excludeOutboundCidrs.ipv6.length
      ? [`ip6 daddr ${set(c.excludeOutboundCidrs.ipv6)} return`]
      : []),
    ...(c.excludeOutboundPorts.length ? [`tcp dport ${set(c.excludeOutboundPorts)} return`] : []),
    `meta l4proto tcp redirect to :${c.outboundPort}`,
  ];
  const chain = (name: string, rules: readonly string[]) =>
    `\tchain ${name} {\n${rules.map((r) => `\t\t${r}\n`).join("")}\t}\n`;
  return [
    `table ${NFT_TABLE} {\n`,
    chain("prerouting", [
      "type nat hook prerouting priority dstnat; policy accept;",
      "meta l4proto tcp jump inbound",
    ]),
    "\n",
    chain("output", ["type nat hook output priority -100; policy accept;", "jump outbound"]),
    "\n",
    chain("inbound", inbound),
    "\n",
    chain("outbound", outbound),
    "}\n",
  ].join("");
}

/**
 * The script for `nft -f`: one transaction that creates the table, or replaces it whole
 * if it exists (the add makes the delete safe), so a failure leaves no half-written table.
 */
export function nftApplyScript(c: RedirectConfig): string {
  return `add table ${NFT_TABLE}\ndelete table ${NFT_TABLE}\n${nftTable(c)}`;
}

export const nftDeleteScript = (): string => `delete table ${NFT_TABLE}\n`;

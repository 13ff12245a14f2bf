// The redirect rules for iptables (the option for nodes without nft, e.g. kind's),
// built in exactly the form `iptables-save -t nat` prints, for iptables-restore and for
// CHECK. IPv4 and IPv6 differ only in the excluded CIDRs. Pure: config in, text out.

import type { RedirectConfig } from "./redirect-config.js";

export type IpFamily = "ipv4" | "ipv6";
export const IPT_CHAINS = { inbound: "TRELLIS_INBOUND", outbound: "TRELLIS_OUTPUT" } as const;

/** The rules that hook our chains into the built-in ones. */
export const IPT_JUMPS = [
  `-A PREROUTING -p tcp -j ${IPT_CHAINS.inbound}`,
  `-A OUTPUT -j ${IPT_CHAINS.outbound}`,
] as const;

/** `-m multiport` takes at most 15 ports a rule. */
function portMatches(ports: readonly number[]): string[] {
  if (ports.length === 1) return [`-p tcp -m tcp --dport ${ports[0]}`];
  const out: string[] = [];
  for (let i = 0; i < ports.length; i += 15)
    out.push(`-p tcp -m multiport --dports ${ports.slice(i, i + 15).join(",")}`);
  return out;
}

/** Our chains' rules, as iptables-save lists them. */
export function iptablesChainRules(c: RedirectConfig, family: IpFamily): string[] {
  const IN = IPT_CHAINS.inbound;
  const OUT = IPT_CHAINS.outbound;
  const cidrs = family === "ipv4" ? c.excludeOutboundCidrs.ipv4 : c.excludeOutboundCidrs.ipv6;
  const full = family === "ipv4" ? "/32" : "/128";
  return [
    ...portMatches(c.inboundExemptPorts).map((m) => `-A ${IN} ${m} -j RETURN`),
    ...(c.excludeInboundPorts.length
      ? portMatches(c.excludeInboundPorts).map((m) => `-A ${IN} ${m} -j RETURN`)
      : []),
    `-A ${IN} -p tcp -j REDIRECT --to-ports ${c.inboundPort}`,
    `-A ${OUT} -o lo -j RETURN`,
    `-A ${OUT} -m mark --mark 0x${c.sidecarMark.toString(16)} -j RETURN`,
    `-A ${OUT} -m owner --uid-owner ${c.sidecarUid} -j RETURN`,
    ...(c.captureDns
      ? [
          `-A ${OUT} -p udp -m udp --dport 53 -j REDIRECT --to-ports ${c.dnsPort}`,
          `-A ${OUT} -p tcp -m tcp --dport 53 -j REDIRECT --to-ports ${c.dnsPort}`,
        ]
      : []),
    ...cidrs.map(
      (cidr) => `-A ${OUT} -d ${cidr.includes("/") ? cidr : `${cidr}${full}`} -j RETURN`,
    ),
    ...(c.excludeOutboundPorts.length
      ? portMatches(c.excludeOutboundPorts).map((m) => `-A ${OUT} ${m} -j RETURN`)
      : []),
    `-A ${OUT} -p tcp -j REDIRECT --to-ports ${c.outboundPort}`,
  ];
}

/**
 * An iptables-restore --noflush script for the nat table. Declaring a chain flushes it,
 * so the script replaces our chains whole; `hooked` says whether the jumps to them are
 * already in place (then they are deleted and re-added, all in one atomic COMMIT).
 */
export function iptablesApplyScript(c: RedirectConfig, family: IpFamily, hooked: boolean): string {
  return [
    "*nat",
    `:${IPT_CHAINS.inbound} - [0:0]`,
    `:${IPT_CHAINS.outbound} - [0:0]`,
    ...(hooked ? IPT_JUMPS.map((j) => j.replace(/^-A/, "-D")) : []),
    ...IPT_JUMPS,
    ...iptablesChainRules(c, family),
    "COMMIT",
    "",
  ].join("\n");
}

/** Removes exactly what iptablesApplyScript added; `hooked` as found in iptables-save. */
export function iptablesDeleteScript(hooked: readonly string[]): string {
  return [
    "*nat",
    ...hooked.map((j) => j.replace(/^-A/, "-D")),
    `-F ${IPT_CHAINS.inbound}`,
    `-F ${IPT_CHAINS.outbound}`,
    `-X ${IPT_CHAINS.inbound}`,
    `-X ${IPT_CHAINS.outbound}`,
    "COMMIT",
    "",
  ].join("\n");
}

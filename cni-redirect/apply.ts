// The thin shell that touches a pod's network namespace: runs nft or iptables-restore
// inside it (through nsenter) with the scripts the pure builders made, and reads the
// rules back for CHECK. Failures become CniErrors with the spec's codes.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { CniCode, CniError } from "./protocol.js";
import type { RedirectConfig } from "./redirect-config.js";
import {
  IPT_CHAINS,
  IPT_JUMPS,
  type IpFamily,
  iptablesApplyScript,
  iptablesChainRules,
  iptablesDeleteScript,
} from "./rules-iptables.js";
import { NFT_TABLE, nftApplyScript, nftDeleteScript, nftTable } from "./rules-nft.js";

export type RedirectMode = "nftables" | "iptables";

/** How long iptables-restore waits for the xtables lock before we call it transient. */
const XTABLES_LOCK_WAIT_SECONDS = 5;
const COMMAND_TIMEOUT_MS = 20_000;

interface Ran {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `cmd` in the network namespace at `netns` ("" = the current one). */
function runIn(netns: string, cmd: string, args: readonly string[], input = ""): Ran {
  const [file, argv] = netns
    ? ["nsenter", [`--net=${netns}`, "--", cmd, ...args]]
    : [cmd, [...args]];
  const r = spawnSync(file, argv, { input, encoding: "utf8", timeout: COMMAND_TIMEOUT_MS });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === "ENOENT";
    throw new CniError(
      missing ? CniCode.PLUGIN_NOT_AVAILABLE : CniCode.IO_FAILURE,
      missing ? `${file} is not installed on this node` : `${file} failed: ${r.error.message}`,
    );
  }
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

function checkNetns(netns: string): void {
  if (netns && !existsSync(netns))
    throw new CniError(CniCode.CONTAINER_UNKNOWN, `network namespace ${netns} does not exist`);
}

function failed(what: string, r: Ran, script?: string): CniError {
  // Transient: another program holds the xtables lock (iptables-legacy), or the kernel
  // answered EAGAIN / EBUSY to a netlink request.
  if (/xtables lock|Resource temporarily unavailable|Resource busy/i.test(r.stderr)) {
    return new CniError(
      CniCode.TRY_AGAIN,
      `${what}: a transient failure (a lock held by another program, or a busy kernel); try again`,
      r.stderr.trim(),
    );
  }
  return new CniError(
    CniCode.IO_FAILURE,
    `${what} failed (exit ${r.status})`,
    `${r.stderr.trim()}${script ? `\n--- script ---\n${script}` : ""}`,
  );
}

const IPT_TOOLS: Record<IpFamily, { save: string; restore: string }> = {
  ipv4: { save: "iptables-save", restore: "iptables-restore" },
  ipv6: { save: "ip6tables-save", restore: "ip6tables-restore" },
};

/** Our lines in `iptables-save -t nat`: the jumps and our chains' rules. */
function iptablesState(
  netns: string,
  family: IpFamily,
): { jumps: string[]; rules: string[]; chains: boolean } {
  const r = runIn(netns, IPT_TOOLS[family].save, ["-t", "nat"]);
  if (r.status !== 0) throw failed(`${IPT_TOOLS[family].save} -t nat`, r);
  const lines = r.stdout.split("\n");
  const ours = (l: string) =>
    l.startsWith(`-A ${IPT_CHAINS.inbound} `) || l.startsWith(`-A ${IPT_CHAINS.outbound} `);
  return {
    jumps: lines.filter((l) => (IPT_JUMPS as readonly string[]).includes(l)),
    rules: lines.filter(ours),
    chains: lines.some((l) => l.startsWith(`:${IPT_CHAINS.inbound} `)),
  };
}

function iptablesRestore(netns: string, family: IpFamily, script: string, what: string): void {
  const r = runIn(
    netns,
    IPT_TOOLS[family].restore,
    ["--noflush", "-w", String(XTABLES_LOCK_WAIT_SECONDS)],
    script,
  );
  if (r.status !== 0) throw failed(what, r, script);
}

/** Writes the redirect rules, replacing any earlier ones whole. */
export function applyRedirect(netns: string, mode: RedirectMode, config: RedirectConfig): void {
  checkNetns(netns);
  if (mode === "nftables") {
    const script = nftApplyScript(config);
    const r = runIn(netns, "nft", ["-f", "-"], script);
    if (r.status !== 0) throw failed("nft -f", r, script);
    return;
  }
  for (const family of ["ipv4", "ipv6"] as const) {
    const hooked = iptablesState(netns, family).jumps.length === IPT_JUMPS.length;
    iptablesRestore(
      netns,
      family,
      iptablesApplyScript(config, family, hooked),
      `${IPT_TOOLS[family].restore} (ADD)`,
    );
  }
}

/** Removes exactly what applyRedirect wrote ("" = this netns). Nothing there, or a netns that is gone, is success. */
export function removeRedirect(netns: string, mode: RedirectMode): void {
  if (netns && !existsSync(netns)) return;
  if (mode === "nftables") {
    const r = runIn(netns, "nft", ["-f", "-"], nftDeleteScript());
    if (r.status !== 0 && !/No such file or directory/.test(r.stderr))
      throw failed("nft delete table", r);
    return;
  }
  for (const family of ["ipv4", "ipv6"] as const) {
    const state = iptablesState(netns, family);
    if (!state.chains && state.jumps.length === 0) continue;
    iptablesRestore(
      netns,
      family,
      iptablesDeleteScript(state.jumps),
      `${IPT_TOOLS[family].restore} (DEL)`,
    );
  }
}

/** Lines in `want` or `have` but not both, for CHECK's details. */
function difference(want: readonly string[], have: readonly string[]): string {
  const missing = want.filter((l) => !have.includes(l)).map((l) => `missing: ${l}`);
  const extra = have.filter((l) => !want.includes(l)).map((l) => `unexpected: ${l}`);
  return [...missing, ...extra].join("\n") || "the same rules, in another order";
}

/** Throws RULES_ALTERED unless the netns holds exactly the rules ADD writes. */
export function checkRedirect(netns: string, mode: RedirectMode, config: RedirectConfig): void {
  checkNetns(netns);
  if (mode === "nftables") {
    const r = runIn(netns, "nft", ["list", "table", ...NFT_TABLE.split(" ")]);
    if (r.status !== 0) {
      if (/No such file or directory/.test(r.stderr))
        throw new CniError(CniCode.RULES_ALTERED, `the nftables table ${NFT_TABLE} is missing`);
      throw failed("nft list table", r);
    }
    const want = nftTable(config);
    if (r.stdout !== want) {
      const lines = (t: string) =>
        t
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean);
      throw new CniError(
        CniCode.RULES_ALTERED,
        `the nftables table ${NFT_TABLE} differs from what ADD wrote`,
        difference(lines(want), lines(r.stdout)),
      );
    }
    return;
  }
  for (const family of ["ipv4", "ipv6"] as const) {
    const state = iptablesState(netns, family);
    const want = [...IPT_JUMPS, ...iptablesChainRules(config, family)];
    const have = [...state.jumps, ...state.rules];
    if (want.join("\n") !== have.join("\n")) {
      throw new CniError(
        CniCode.RULES_ALTERED,
        `the ${family} iptables rules differ from what ADD wrote`,
        difference(want, have),
      );
    }
  }
}

/** STATUS: can this node service ADD at all? */
export function checkTools(mode: RedirectMode): void {
  const tools = mode === "nftables" ? ["nft"] : ["iptables-restore", "ip6tables-restore"];
  for (const tool of ["nsenter", ...tools]) {
    const r = spawnSync(tool, ["--version"], { encoding: "utf8", timeout: COMMAND_TIMEOUT_MS });
    if (r.error)
      throw new CniError(
        CniCode.PLUGIN_NOT_AVAILABLE,
        `${tool} is not installed on this node; trellis-cni needs it for ${mode} mode`,
      );
  }
}

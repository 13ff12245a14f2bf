// `trellis redirect …`: the init-container mode of cni-redirect, for clusters without the
// plugin. Run inside the pod's network namespace (an init container with NET_ADMIN), it
// writes the same rules trellis-cni would, from flags or the pod's annotations.

import { readFile } from "node:fs/promises";
import {
  Annotation,
  applyRedirect,
  CniError,
  decideRedirect,
  iptablesApplyScript,
  nftApplyScript,
  type RedirectMode,
  removeRedirect,
} from "../cni-redirect/index.js";
import { type Command, type Invocation, UsageError } from "./command.js";

/** The downward API's annotations file: one key="value" per line, values JSON-quoted. */
export function parseDownwardApiFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^([^=]+)=(".*")$/);
    if (m) out[m[1] as string] = JSON.parse(m[2] as string) as string;
  }
  return out;
}

function modeOf(inv: Invocation, path: string): RedirectMode {
  const mode = (inv.values.mode as string | undefined) ?? "nftables";
  if (mode !== "nftables" && mode !== "iptables")
    throw new UsageError(`--mode must be nftables or iptables, not ${JSON.stringify(mode)}`, path);
  return mode;
}

const init: Command = {
  name: "init",
  summary: "write the redirect rules into the current network namespace (an init container)",
  help: `Usage: trellis redirect init [--mode nftables|iptables] [--annotations-file FILE]
                             [--exclude-outbound-ports P,…] [--exclude-inbound-ports P,…]
                             [--exclude-outbound-ip-ranges CIDR,…] [--capture-dns] [--dry-run]

  The same rules trellis-cni writes for a meshed pod: outbound TCP → :15001, inbound TCP →
  :15006, the sidecar's own traffic (SO_MARK 0x539 or uid 1337) and loopback exempt.
  --annotations-file reads the pod's annotations from a downward API volume; flags win.
  --dry-run prints the rules (nft or iptables-restore input) and changes nothing.`,
  options: {
    mode: { type: "string" },
    "annotations-file": { type: "string" },
    "exclude-outbound-ports": { type: "string" },
    "exclude-inbound-ports": { type: "string" },
    "exclude-outbound-ip-ranges": { type: "string" },
    "capture-dns": { type: "boolean" },
    "dry-run": { type: "boolean" },
  },
  async run(inv) {
    const path = "trellis redirect init";
    const mode = modeOf(inv, path);
    const file = inv.values["annotations-file"] as string | undefined;
    const annotations: Record<string, string> = file
      ? parseDownwardApiFile(await readFile(file, "utf8"))
      : {};
    const flag = (name: string, annotation: string) => {
      const v = inv.values[name];
      if (v !== undefined) annotations[annotation] = String(v);
    };
    flag("exclude-outbound-ports", Annotation.excludeOutboundPorts);
    flag("exclude-inbound-ports", Annotation.excludeInboundPorts);
    flag("exclude-outbound-ip-ranges", Annotation.excludeOutboundIpRanges);
    flag("capture-dns", Annotation.captureDns);
    annotations[Annotation.inject] = "true"; // running this at all means the pod is meshed
    let decision: ReturnType<typeof decideRedirect>;
    try {
      decision = decideRedirect({ namespace: "", name: "", annotations, excludeNamespaces: [] });
    } catch (err) {
      throw err instanceof CniError ? new UsageError(err.message, path) : err;
    }
    if (!decision.meshed) throw new Error(decision.reason);
    if (inv.values["dry-run"]) {
      inv.out(
        mode === "nftables"
          ? nftApplyScript(decision.config)
          : ["ipv4", "ipv6"]
              .map((f) => `# ${f}\n${iptablesApplyScript(decision.config, f as "ipv4", false)}`)
              .join("\n"),
      );
      return 0;
    }
    applyRedirect("", mode, decision.config);
    inv.out(
      `redirect rules written (${mode}): outbound TCP → :${decision.config.outboundPort}, inbound TCP → :${decision.config.inboundPort}`,
    );
    return 0;
  },
};

const remove: Command = {
  name: "remove",
  summary: "remove the redirect rules from the current network namespace",
  help: "Usage: trellis redirect remove [--mode nftables|iptables]",
  options: { mode: { type: "string" } },
  async run(inv) {
    const mode = modeOf(inv, "trellis redirect remove");
    removeRedirect("", mode);
    inv.out(`redirect rules removed (${mode})`);
    return 0;
  },
};

export const redirectCommand: Command = {
  name: "redirect",
  summary: "traffic redirection without the CNI plugin (init-container mode)",
  subcommands: [init, remove],
};

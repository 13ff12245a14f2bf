// `trellis cni …`: put trellis-cni into a node's CNI configuration and take it out again;
// what the trellis-cni DaemonSet runs on every node (deploy/kind/trellis-cni.yaml).

import { basename, isAbsolute } from "node:path";
import { defaultEntry, type TrellisCniEntry } from "../cni-redirect/install.js";
import {
  describeAction,
  type InstallAction,
  installCni,
  type PluginFile,
  uninstallCni,
} from "../cni-redirect/installer.js";
import { type Command, type Invocation, UsageError } from "./command.js";

const PLUGIN_MODE = 0o755;
/** A Kubernetes namespace name: an RFC 1123 label. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const str = (inv: Invocation, name: string): string => inv.values[name] as string;

/** The repeated --plugin files, each going into the bin dir under its own name. */
function pluginFiles(inv: Invocation, path: string): PluginFile[] {
  // parseArgs gives a list for `multiple: true` options, which Invocation's type leaves out.
  const raw = inv.values.plugin as unknown;
  const sources = (Array.isArray(raw) ? raw : [raw]) as string[];
  const files = sources.map((source) => ({ name: basename(source), source, mode: PLUGIN_MODE }));
  const names = files.map((f) => f.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined)
    throw new UsageError(`two --plugin files are both named ${twice} in the bin dir`, path);
  return files;
}

function entryFrom(inv: Invocation, path: string): TrellisCniEntry {
  const mode = (inv.values.mode as string | undefined) ?? "iptables";
  if (mode !== "iptables" && mode !== "nftables")
    throw new UsageError(`--mode must be iptables or nftables, not ${JSON.stringify(mode)}`, path);
  const list = inv.values["exclude-namespaces"] as string | undefined;
  const excludeNamespaces = list
    ?.split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const bad = excludeNamespaces?.find((n) => !NAMESPACE.test(n));
  if (bad !== undefined)
    throw new UsageError(
      `--exclude-namespaces: ${JSON.stringify(bad)} is not a namespace name`,
      path,
    );
  const kubeconfig = inv.values.kubeconfig as string | undefined;
  if (kubeconfig !== undefined && !isAbsolute(kubeconfig))
    throw new UsageError(
      `--kubeconfig must be an absolute path on the node (the runtime runs trellis-cni from anywhere), not ${JSON.stringify(kubeconfig)}`,
      path,
    );
  return defaultEntry({ redirectMode: mode, excludeNamespaces, kubeconfig });
}

function report(inv: Invocation, actions: readonly InstallAction[]): void {
  for (const a of actions) inv.out(`  ${describeAction(a)}`);
}

const dirOptions = {
  "cni-bin-dir": { type: "string" },
  "cni-conf-dir": { type: "string" },
  plugin: { type: "string", multiple: true },
} as const;

const install: Command = {
  name: "install",
  summary: "copy trellis-cni into the bin dir and chain it after the node's network plugin",
  help: `Usage: trellis cni install --cni-bin-dir DIR --cni-conf-dir DIR --plugin FILE [--plugin FILE…]
                         [--mode iptables|nftables] [--exclude-namespaces NS,…] [--kubeconfig PATH]

  --cni-bin-dir DIR           the node's CNI plugin directory (/opt/cni/bin, mounted)
  --cni-conf-dir DIR          the node's CNI configuration directory (/etc/cni/net.d, mounted)
  --plugin FILE               copied into --cni-bin-dir under its own name, mode 0755
  --mode MODE                 how trellis-cni writes the redirect rules (default iptables,
                              what kind's node image has)
  --exclude-namespaces NS,…   pods in these namespaces are never redirected (default kube-system)
  --kubeconfig PATH           a kubeconfig on the node for trellis-cni (absolute)

  The runtime's configuration is the first *.conflist, *.conf or *.json in byte order;
  trellis-cni becomes the last plugin of its chain (a .conf becomes a .conflist) and the
  original is kept as <file>.trellis-orig. Running it again changes nothing. Exits 1 with
  NO_PRIMARY_CNI while the node's network plugin has not written its configuration.`,
  options: {
    ...dirOptions,
    mode: { type: "string" },
    "exclude-namespaces": { type: "string" },
    kubeconfig: { type: "string" },
  },
  required: ["cni-bin-dir", "cni-conf-dir", "plugin"],
  async run(inv) {
    const path = "trellis cni install";
    const entry = entryFrom(inv, path);
    const actions = await installCni({
      cniBinDir: str(inv, "cni-bin-dir"),
      cniConfDir: str(inv, "cni-conf-dir"),
      pluginFiles: pluginFiles(inv, path),
      entry,
    });
    const changed = actions.some((a) => a.verb !== "unchanged");
    inv.out(
      changed
        ? `trellis-cni installed (${entry.redirectMode}, excluding ${entry.excludeNamespaces.join(", ") || "no namespace"}):`
        : "trellis-cni is already installed; nothing changed:",
    );
    report(inv, actions);
    return 0;
  },
};

const uninstall: Command = {
  name: "uninstall",
  summary: "take trellis-cni out of the node's CNI configuration and bin dir",
  help: `Usage: trellis cni uninstall --cni-bin-dir DIR --cni-conf-dir DIR --plugin FILE [--plugin FILE…]

  Restores each configuration file from its .trellis-orig backup, byte for byte, when
  nobody changed it since install; otherwise takes out only the trellis-cni entry and
  keeps their change. Then removes the --plugin files (by name) from --cni-bin-dir.
  With nothing installed it changes nothing.`,
  options: dirOptions,
  required: ["cni-bin-dir", "cni-conf-dir", "plugin"],
  async run(inv) {
    const actions = await uninstallCni({
      cniBinDir: str(inv, "cni-bin-dir"),
      cniConfDir: str(inv, "cni-conf-dir"),
      pluginFiles: pluginFiles(inv, "trellis cni uninstall"),
    });
    inv.out(
      actions.length ? "trellis-cni uninstalled:" : "trellis-cni is not installed; nothing changed",
    );
    report(inv, actions);
    return 0;
  },
};

export const cniCommand: Command = {
  name: "cni",
  summary: "install trellis-cni on a node (the DaemonSet's job)",
  subcommands: [install, uninstall],
};

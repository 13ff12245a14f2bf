// What installing trellis-cni does to a node's CNI configuration, as pure functions over
// text: which file the container runtime uses (libcni's rule), trellis-cni added as the
// last plugin of its chain, and taken out again. installer.ts does the file I/O.

import { POD_ANNOTATIONS_CAPABILITY } from "./plugin.js";
import { SUPPORTED_VERSIONS } from "./protocol.js";

export const TRELLIS_CNI_TYPE = "trellis-cni";

/** The installer keeps the primary plugin's original file under `<file>.trellis-orig`. */
export const BACKUP_SUFFIX = ".trellis-orig";

/** The extensions containerd's go-cni loads from the conf dir (`.json` read like `.conf`). */
const CONF_EXTENSIONS = [".conf", ".conflist", ".json"];

export type InstallCode =
  /** The primary plugin's file cannot take a chained plugin: not JSON, no plugins, old version. */
  | "CONFLIST_INVALID"
  /** No network configuration yet: a chained plugin needs the primary network first. */
  | "NO_PRIMARY_CNI"
  /** A `.conf` must become a `.conflist` to hold a chain, and that name is taken. */
  | "CONF_NAME_TAKEN"
  /** A plugin file name that is not a plain file name. */
  | "PLUGIN_NAME_INVALID";

export class InstallError extends Error {
  override readonly name = "InstallError";
  constructor(
    readonly code: InstallCode,
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

/** trellis-cni's entry in the chain; libcni adds the list's name and cniVersion when it runs it. */
export interface TrellisCniEntry {
  type: typeof TRELLIS_CNI_TYPE;
  /** containerd passes the pod's annotations in runtimeConfig only to plugins declaring this. */
  capabilities?: Record<string, boolean>;
  redirectMode: "nftables" | "iptables";
  excludeNamespaces: string[];
  kubernetes?: { kubeconfig: string };
  logLevel?: "debug" | "info" | "error";
}

export interface EntryOptions {
  redirectMode?: TrellisCniEntry["redirectMode"];
  excludeNamespaces?: string[];
  kubeconfig?: string;
  logLevel?: TrellisCniEntry["logLevel"];
}

/** The entry for a kind node: iptables (kind's node image ships iptables, not nft). */
export function defaultEntry(opts: EntryOptions = {}): TrellisCniEntry {
  const entry: TrellisCniEntry = {
    type: TRELLIS_CNI_TYPE,
    capabilities: { [POD_ANNOTATIONS_CAPABILITY]: true },
    redirectMode: opts.redirectMode ?? "iptables",
    excludeNamespaces: opts.excludeNamespaces ?? ["kube-system"],
  };
  if (opts.kubeconfig !== undefined) entry.kubernetes = { kubeconfig: opts.kubeconfig };
  if (opts.logLevel !== undefined) entry.logLevel = opts.logLevel;
  return entry;
}

/** Go's filepath.Ext: from the last dot on (".conf" is a name with an extension). */
function extensionOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot);
}

/**
 * The file the runtime uses: the first, in byte order, of the names ending in .conf,
 * .conflist or .json (go-cni's loadFromConfDir). Backups and temporary files never match.
 */
export function chooseConfFile(fileNames: readonly string[]): string | undefined {
  return fileNames
    .filter((n) => CONF_EXTENSIONS.includes(extensionOf(n)) && !n.endsWith(BACKUP_SUFFIX))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))[0];
}

/** Where a chain read from `fileName` must live: a `.conf` holding a list is rejected by go-cni. */
export function conflistNameFor(fileName: string): string {
  const ext = extensionOf(fileName);
  return ext === ".conflist" ? fileName : `${fileName.slice(0, -ext.length || undefined)}.conflist`;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isOurs = (plugin: unknown) => isObject(plugin) && plugin.type === TRELLIS_CNI_TYPE;
const render = (conf: Json) => `${JSON.stringify(conf, null, 2)}\n`;

function invalid(fileName: string, why: string): InstallError {
  return new InstallError("CONFLIST_INVALID", `${fileName}: ${why}`, fileName);
}

function parseObject(text: string, fileName: string): Json {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid(fileName, `not JSON (${(err as Error).message})`);
  }
  if (!isObject(raw)) throw invalid(fileName, "not a JSON object");
  return raw;
}

/** The file as a plugin list (a single-plugin .conf lifted into one), checked for chaining. */
function readChain(text: string, fileName: string): { conf: Json; plugins: Json[] } {
  const file = parseObject(text, fileName);
  if (typeof file.name !== "string" || file.name === "")
    throw invalid(fileName, "has no network name");
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(file.cniVersion as string)) {
    throw invalid(
      fileName,
      `cniVersion ${JSON.stringify(file.cniVersion)} cannot chain trellis-cni (it speaks ${SUPPORTED_VERSIONS.join(", ")})`,
    );
  }
  let conf: Json;
  if ("plugins" in file) {
    conf = file;
  } else if (typeof file.type === "string") {
    const { cniVersion, name, ...plugin } = file;
    conf = { cniVersion, name, plugins: [plugin] };
  } else {
    throw invalid(fileName, 'has neither "plugins" (a .conflist) nor "type" (a .conf)');
  }
  const plugins = conf.plugins;
  if (!Array.isArray(plugins)) throw invalid(fileName, '"plugins" is not a list');
  const bad = plugins.findIndex((p) => !isObject(p) || typeof p.type !== "string");
  if (bad >= 0) throw invalid(fileName, `plugins[${bad}] has no "type"`);
  if (!plugins.some((p) => !isOurs(p)))
    throw invalid(fileName, "has no primary plugin for trellis-cni to follow");
  return { conf, plugins: plugins as Json[] };
}

/**
 * The file with `entry` as the last plugin, as pretty JSON. An existing trellis-cni
 * entry is replaced where it stands (and any duplicate dropped); a .conf becomes a list.
 */
export function addTrellisPlugin(
  confText: string,
  fileName: string,
  entry: TrellisCniEntry,
): string {
  const { conf, plugins } = readChain(confText, fileName);
  const at = plugins.findIndex(isOurs);
  const next: unknown[] =
    at < 0
      ? [...plugins, entry]
      : plugins.flatMap((p, i): unknown[] => (i === at ? [entry] : isOurs(p) ? [] : [p]));
  return render({ ...conf, plugins: next });
}

/** The file without trellis-cni; unchanged text when there was none. */
export function removeTrellisPlugin(confText: string, fileName: string): string {
  const conf = parseObject(confText, fileName);
  if (!Array.isArray(conf.plugins) || !conf.plugins.some(isOurs)) return confText;
  return render({ ...conf, plugins: conf.plugins.filter((p) => !isOurs(p)) });
}

/** trellis-cni's entry in the file, if it has one. */
export function trellisEntryOf(confText: string, fileName: string): TrellisCniEntry | undefined {
  const conf = parseObject(confText, fileName);
  return Array.isArray(conf.plugins)
    ? (conf.plugins.find(isOurs) as TrellisCniEntry | undefined)
    : undefined;
}

/**
 * Whether `current` is exactly what installing (with the entry it holds) made of
 * `original`: then restoring the original loses nobody's change.
 */
export function isUntouchedInstall(
  current: string,
  currentName: string,
  original: string,
  originalName: string,
): boolean {
  try {
    const entry = trellisEntryOf(current, currentName);
    return entry !== undefined && addTrellisPlugin(original, originalName, entry) === current;
  } catch (err) {
    if (err instanceof InstallError) return false;
    throw err;
  }
}

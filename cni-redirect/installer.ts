// Installs trellis-cni on a node (the DaemonSet's job, with the host's /opt/cni/bin and
// /etc/cni/net.d mounted): plugin files copied in, the runtime's network configuration
// given a trellis-cni entry, the original kept for uninstall. Every write is a rename of
// a finished file, so the runtime never reads half of one; everything is checked before
// the first write, so bad input changes nothing.

import { chmod, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import {
  addTrellisPlugin,
  BACKUP_SUFFIX,
  chooseConfFile,
  conflistNameFor,
  InstallError,
  isUntouchedInstall,
  removeTrellisPlugin,
  TRELLIS_CNI_TYPE,
  type TrellisCniEntry,
  trellisEntryOf,
} from "./install.js";

export interface PluginFile {
  /** The file name in the CNI bin dir: the `type` a configuration names. */
  readonly name: string;
  /** Where the file is now (in the installer's image). */
  readonly source: string;
  readonly mode: number;
}

export interface InstallOptions {
  readonly cniBinDir: string;
  readonly cniConfDir: string;
  readonly pluginFiles: readonly PluginFile[];
  readonly entry: TrellisCniEntry;
}

export interface UninstallOptions {
  readonly cniBinDir: string;
  readonly cniConfDir: string;
  readonly pluginFiles: readonly Pick<PluginFile, "name">[];
}

/** One thing done to the node, or found already done. */
export interface InstallAction {
  readonly verb: "copied" | "unchanged" | "saved" | "wrote" | "removed" | "restored";
  readonly path: string;
  readonly detail?: string;
}

export const describeAction = (a: InstallAction): string =>
  `${a.verb} ${a.path}${a.detail ? ` (${a.detail})` : ""}`;

const CONF_MODE = 0o644;

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function modeOf(path: string, fallback: number): Promise<number> {
  return stat(path).then(
    (s) => s.mode & 0o7777,
    () => fallback,
  );
}

/** Write `<path>.tmp`, set its mode (not the umask's), rename it over `path`. */
async function writeAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  await writeFile(`${path}.tmp`, data, { mode });
  await chmod(`${path}.tmp`, mode);
  await rename(`${path}.tmp`, path);
}

/** The names libcni would consider, directories left out as ConfFiles does. */
async function confDirNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true }))
      .filter((d) => !d.isDirectory())
      .map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

function hasTrellisEntry(data: Buffer, name: string): boolean {
  try {
    return trellisEntryOf(data.toString("utf8"), name) !== undefined;
  } catch {
    return false;
  }
}

function checkPluginName(name: string): void {
  if (name === "" || name !== basename(name) || name === "." || name === "..") {
    throw new InstallError(
      "PLUGIN_NAME_INVALID",
      `plugin file name ${JSON.stringify(name)} must be a plain file name (it becomes a CNI type)`,
    );
  }
}

/** Copies each plugin file into cniBinDir, then adds `entry` to the runtime's configuration. */
export async function installCni(opts: InstallOptions): Promise<InstallAction[]> {
  // Read and compute everything first: a missing source or an unusable file changes nothing.
  const plugins = [];
  for (const p of opts.pluginFiles) {
    checkPluginName(p.name);
    plugins.push({ ...p, data: await readFile(p.source), path: join(opts.cniBinDir, p.name) });
  }
  const chosen = chooseConfFile(await confDirNames(opts.cniConfDir));
  if (chosen === undefined) {
    throw new InstallError(
      "NO_PRIMARY_CNI",
      `no CNI network configuration in ${opts.cniConfDir} (*.conflist, *.conf, *.json): trellis-cni chains after the node's network plugin, which has not written its file yet; try again once it has`,
      opts.cniConfDir,
    );
  }
  const chosenPath = join(opts.cniConfDir, chosen);
  const original = await readFile(chosenPath);
  const updated = addTrellisPlugin(original.toString("utf8"), chosen, opts.entry);
  const target = conflistNameFor(chosen);
  const targetPath = join(opts.cniConfDir, target);
  // A .conf becomes a .conflist: that name may hold only our own earlier conversion.
  const inTheWay = target === chosen ? undefined : await readIfExists(targetPath);
  if (inTheWay !== undefined && !hasTrellisEntry(inTheWay, target)) {
    throw new InstallError(
      "CONF_NAME_TAKEN",
      `${chosenPath} must become ${target} to hold a plugin chain, but ${targetPath} already exists; remove one of them`,
      targetPath,
    );
  }

  const actions: InstallAction[] = [];
  // Binaries before the configuration that names them: a pod started in between must not
  // find trellis-cni in its chain and missing from the bin dir.
  for (const p of plugins) {
    const existing = await readIfExists(p.path);
    if (existing?.equals(p.data) && (await modeOf(p.path, -1)) === p.mode) {
      actions.push({ verb: "unchanged", path: p.path });
      continue;
    }
    await writeAtomic(p.path, p.data, p.mode);
    actions.push({
      verb: "copied",
      path: p.path,
      detail: `from ${p.source}, mode 0${p.mode.toString(8)}`,
    });
  }

  if (target === chosen && updated === original.toString("utf8")) {
    actions.push({
      verb: "unchanged",
      path: chosenPath,
      detail: `${TRELLIS_CNI_TYPE} already last`,
    });
    return actions;
  }
  const mode = await modeOf(chosenPath, CONF_MODE);
  const backupPath = `${chosenPath}${BACKUP_SUFFIX}`;
  // The original is the file before any trellis-cni entry: never back up our own output.
  if (
    trellisEntryOf(original.toString("utf8"), chosen) === undefined &&
    (await readIfExists(backupPath)) === undefined
  ) {
    await writeAtomic(backupPath, original, mode);
    actions.push({ verb: "saved", path: backupPath, detail: `the original ${chosen}` });
  }
  await writeAtomic(targetPath, updated, mode);
  actions.push({
    verb: "wrote",
    path: targetPath,
    detail: `${TRELLIS_CNI_TYPE} last in the chain`,
  });
  if (target !== chosen) {
    await rm(chosenPath, { force: true });
    actions.push({ verb: "removed", path: chosenPath, detail: `now ${target}` });
  }
  return actions;
}

/**
 * Undoes installCni: each configuration restored byte for byte from its backup when
 * nobody changed it since, otherwise only the trellis-cni entry taken out; then the
 * plugin files removed. Nothing installed: nothing done.
 */
export async function uninstallCni(opts: UninstallOptions): Promise<InstallAction[]> {
  for (const p of opts.pluginFiles) checkPluginName(p.name);
  const dir = opts.cniConfDir;
  const actions: InstallAction[] = [];
  const names = await confDirNames(dir);
  for (const backupName of names.filter((n) => n.endsWith(BACKUP_SUFFIX))) {
    const backupPath = join(dir, backupName);
    const originalName = backupName.slice(0, -BACKUP_SUFFIX.length);
    const originalPath = join(dir, originalName);
    const currentName = conflistNameFor(originalName);
    const currentPath = join(dir, currentName);
    const backup = await readFile(backupPath);
    const current = await readIfExists(currentPath);
    const untouched =
      current !== undefined &&
      isUntouchedInstall(
        current.toString("utf8"),
        currentName,
        backup.toString("utf8"),
        originalName,
      );
    if (untouched && currentName !== originalName && (await readIfExists(originalPath))) {
      // The primary plugin has written its .conf again: our converted copy is stale.
      await rm(currentPath, { force: true });
      actions.push({ verb: "removed", path: currentPath, detail: `${originalName} is back` });
    } else if (untouched) {
      await writeAtomic(originalPath, backup, await modeOf(backupPath, CONF_MODE));
      if (currentName !== originalName) await rm(currentPath, { force: true });
      actions.push({ verb: "restored", path: originalPath, detail: `from ${backupName}` });
    }
    // Otherwise the file changed since install (or is gone): the loop below takes out only
    // our entry, and the backup, now out of date, goes.
    await rm(backupPath, { force: true });
    actions.push({ verb: "removed", path: backupPath });
  }

  for (const name of await confDirNames(dir)) {
    if (chooseConfFile([name]) === undefined) continue;
    const path = join(dir, name);
    const text = (await readFile(path)).toString("utf8");
    let without: string;
    try {
      without = removeTrellisPlugin(text, name);
    } catch {
      continue; // not JSON: not a file trellis-cni was ever added to
    }
    if (without === text) continue;
    await writeAtomic(path, without, await modeOf(path, CONF_MODE));
    actions.push({ verb: "wrote", path, detail: `${TRELLIS_CNI_TYPE} taken out, the rest kept` });
  }

  // Binaries last: the configuration no longer names them.
  for (const p of opts.pluginFiles) {
    const path = join(opts.cniBinDir, p.name);
    if ((await readIfExists(path)) === undefined) continue;
    await rm(path, { force: true });
    actions.push({ verb: "removed", path });
  }
  return actions;
}

// A directory of Kubernetes YAML as a source of objects for a Store (`trellis lab up -f DIR`):
// every *.yaml / *.yml under it is applied, edits are followed (fs.watch, debounced, then a
// full rescan), and the objects each file brought are remembered so that editing or deleting
// the file changes exactly those. A file that stops parsing keeps its last good objects.
// Objects the store holds from anywhere else are never touched.

import { type FSWatcher, watch } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { ManifestIssue } from "./errors.js";
import { type Owned, planFileSync } from "./file-plan.js";
import { parseManifests } from "./parse.js";
import { type Store, StoreError } from "./store.js";
import { keyOf, type Resource } from "./types.js";

export type FileSourceReport =
  /** A file's objects are in the store (file paths are relative to the directory, "/"-separated). */
  | {
      kind: "applied";
      file: string;
      created: number;
      updated: number;
      deleted: number;
      unchanged: number;
      skipped: number;
    }
  /** A file does not parse: nothing changed, its last good objects stay. */
  | { kind: "invalid"; file: string; issues: ManifestIssue[] }
  /** A file was deleted, and the objects it brought with it. */
  | { kind: "removed"; file: string; deleted: number }
  /** An object in `file` has the key of one from `ownedBy` (earlier in sorted order): ignored. */
  | { kind: "duplicate"; file: string; key: string; ownedBy: string }
  | { kind: "error"; file?: string; error: Error };

export interface FileSourceOptions {
  readonly signal?: AbortSignal;
  readonly onReport?: (r: FileSourceReport) => void;
  /** Quiet time after a change before rescanning. Default 100 ms. */
  readonly debounceMs?: number;
  /** A full rescan this often even without fs events (0: never). Default 10 s. */
  readonly rescanMs?: number;
}

export interface FileSource {
  /** Resolves when the directory's first full load has been applied. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
  /** The keys (keyOf) each file owns in the store. */
  owned(): ReadonlyMap<string, string[]>;
}

export class FileSourceError extends Error {
  override readonly name = "FileSourceError";
  readonly code = "CONFIG_DIR_NOT_FOUND";
}

/** Files larger than this are refused rather than parsed. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;

interface FileState {
  text: string;
  /** The objects of its last good parse, by key (empty when it has never parsed). */
  good: Map<string, Resource>;
  skipped: number;
}

export async function watchConfigDir(
  dir: string,
  store: Store,
  opts: FileSourceOptions = {},
): Promise<FileSource> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new FileSourceError(
      `${dir} is not a directory: pass the directory that holds your *.yaml manifests`,
    );
  }
  const report = (r: FileSourceReport) => opts.onReport?.(r);
  const files = new Map<string, FileState>();
  const applied = new Map<string, Owned>();
  const reportedDuplicates = new Set<string>();
  let closed = false;

  async function rescan(): Promise<void> {
    const names = await listManifestFiles(dir);
    const touched = new Set<string>();
    for (const file of names) {
      const text = await readManifest(join(dir, file), file, report);
      if (text === undefined) continue; // vanished since the listing
      const before = files.get(file);
      if (before?.text === text) continue;
      const state: FileState = before ?? { text, good: new Map(), skipped: 0 };
      state.text = text;
      files.set(file, state);
      const parsed = parseManifests(text, file);
      if (parsed.errors.length > 0) {
        report({ kind: "invalid", file, issues: parsed.errors });
        continue;
      }
      state.good = new Map(parsed.resources.map((r) => [keyOf(r), r]));
      state.skipped = parsed.skipped.length;
      touched.add(file);
    }
    const gone = [...files.keys()].filter((f) => !names.includes(f));
    for (const f of gone) files.delete(f);

    const plan = planFileSync(new Map([...files].map(([f, s]) => [f, s.good])), applied);
    for (const d of plan.duplicates) {
      const id = `${d.file}\0${d.key}`;
      if (!reportedDuplicates.has(id)) report({ kind: "duplicate", ...d });
      reportedDuplicates.add(id);
    }
    const counts = new Map<string, { created: number; updated: number; deleted: number }>();
    const count = (file: string) => {
      const c = counts.get(file) ?? { created: 0, updated: 0, deleted: 0 };
      counts.set(file, c);
      return c;
    };
    for (const { file, resource } of plan.apply) {
      const key = keyOf(resource);
      try {
        await store.apply(structuredClone(resource));
        count(file)[applied.has(key) ? "updated" : "created"]++;
        applied.set(key, { file, resource });
      } catch (err) {
        report({ kind: "error", file, error: err as Error });
      }
    }
    for (const { file, key } of plan.delete) {
      const { resource } = applied.get(key) as Owned;
      try {
        await store.delete(resource.kind, resource.metadata.name, resource.metadata.namespace);
      } catch (err) {
        if (!(err instanceof StoreError && err.code === "NOT_FOUND")) {
          report({ kind: "error", file, error: err as Error });
          continue;
        }
      }
      applied.delete(key);
      count(file).deleted++;
    }
    for (const file of gone)
      report({ kind: "removed", file, deleted: counts.get(file)?.deleted ?? 0 });
    for (const [file, state] of files) {
      const c = counts.get(file);
      if (!touched.has(file) && !c) continue;
      const mine = [...state.good.keys()].filter((k) => applied.get(k)?.file === file).length;
      const { created = 0, updated = 0, deleted = 0 } = c ?? {};
      report({
        kind: "applied",
        file,
        created,
        updated,
        deleted,
        unchanged: mine - created - updated,
        skipped: state.skipped,
      });
    }
  }

  // One rescan at a time; changes during a rescan cause one more.
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await rescan().catch((err: Error) => report({ kind: "error", error: err }));
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  let debounce: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(run, opts.debounceMs ?? 100);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { recursive: true }, schedule);
    watcher.on("error", (err) => report({ kind: "error", error: err }));
  } catch (err) {
    report({ kind: "error", error: err as Error }); // the periodic rescan still follows changes
  }
  const rescanMs = opts.rescanMs ?? 10_000;
  const periodic = rescanMs > 0 ? setInterval(run, rescanMs) : undefined;

  const close = async () => {
    if (closed) return;
    closed = true;
    clearTimeout(debounce);
    clearInterval(periodic);
    watcher?.close();
    opts.signal?.removeEventListener("abort", onAbort);
    await running;
  };
  const onAbort = () => void close();
  if (opts.signal?.aborted) await close();
  else opts.signal?.addEventListener("abort", onAbort, { once: true });

  const ready = closed ? Promise.resolve() : run();
  return {
    ready,
    close,
    owned: () => {
      const byFile = new Map<string, string[]>();
      for (const [key, { file }] of applied) byFile.set(file, [...(byFile.get(file) ?? []), key]);
      const sorted = [...byFile].sort(([a], [b]) => (a < b ? -1 : 1));
      return new Map(sorted.map(([file, keys]) => [file, keys.sort()]));
    },
  };
}

/** Every *.yaml / *.yml under `dir`, relative, "/"-separated, sorted; dot-entries skipped. */
export async function listManifestFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    // Skips editors' temporaries and ConfigMap mounts' ..data directories.
    if (entry.name.startsWith(".")) continue;
    const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    const isFile =
      entry.isFile() ||
      (entry.isSymbolicLink() && (await stat(join(dir, rel)).catch(() => undefined))?.isFile());
    if (entry.isDirectory()) out.push(...(await listManifestFiles(dir, rel)));
    else if (isFile && /\.ya?ml$/.test(entry.name)) out.push(rel);
  }
  return out.sort();
}

async function readManifest(
  path: string,
  file: string,
  report: (r: FileSourceReport) => void,
): Promise<string | undefined> {
  try {
    const info = await stat(path);
    if (info.size > MAX_FILE_BYTES) {
      const message = `is ${info.size} bytes; manifests larger than ${MAX_FILE_BYTES} bytes are refused: split it`;
      report({ kind: "invalid", file, issues: [{ document: file, path: "", message }] });
      return undefined;
    }
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

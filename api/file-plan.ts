// The pure core of the file source: given the objects each file holds now and what was
// applied from files before, what to apply and what to delete. The first file in sorted
// order owns a key; a later file with the same key is a duplicate and is ignored.

import { isDeepStrictEqual } from "node:util";
import type { Resource } from "./types.js";

/** An object applied to the store, and the file it came from. */
export interface Owned {
  readonly file: string;
  readonly resource: Resource;
}

export interface FilePlan {
  /** New or changed objects (unchanged ones are left alone, so versions do not churn). */
  readonly apply: Owned[];
  /** Keys applied before that no file holds any more, with the file that brought them. */
  readonly delete: { file: string; key: string }[];
  readonly duplicates: { file: string; key: string; ownedBy: string }[];
}

/**
 * @param files each file's objects by key (iteration order is ignored: files are sorted here)
 * @param applied what the source has applied, by key
 */
export function planFileSync(
  files: ReadonlyMap<string, ReadonlyMap<string, Resource>>,
  applied: ReadonlyMap<string, Owned>,
): FilePlan {
  const desired = new Map<string, Owned>();
  const duplicates: FilePlan["duplicates"] = [];
  for (const file of [...files.keys()].sort()) {
    for (const [key, resource] of files.get(file) ?? []) {
      const owner = desired.get(key);
      if (owner) duplicates.push({ file, key, ownedBy: owner.file });
      else desired.set(key, { file, resource });
    }
  }
  const apply: Owned[] = [];
  for (const [key, want] of desired) {
    const had = applied.get(key);
    // A key passing to another file is re-applied too, to record its new owner (a no-op
    // write when the content is the same).
    if (!had || had.file !== want.file || !isDeepStrictEqual(had.resource, want.resource)) {
      apply.push(want);
    }
  }
  const del: FilePlan["delete"] = [];
  for (const [key, had] of applied) {
    if (!desired.has(key)) del.push({ file: had.file, key });
  }
  return { apply, delete: del, duplicates };
}

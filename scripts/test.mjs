#!/usr/bin/env node
// `npm test`: every compiled test file under dist/test, with Node's test runner.
// Arguments narrow the run: `npm test -- certs` runs the files whose path contains "certs".

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const testDir = join(root, "dist", "test");
const filters = process.argv.slice(2);

const files = readdirSync(testDir, { recursive: true })
  .map((f) => join(testDir, String(f)))
  .filter((f) => f.endsWith(".test.js"))
  // tsc -b never deletes outputs: skip compiled tests whose source is gone.
  .filter((f) => existsSync(join(root, relative(join(root, "dist"), f)).replace(/\.js$/, ".ts")))
  .filter((f) => filters.length === 0 || filters.some((x) => relative(root, f).includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--enable-source-maps", "--test", "--test-reporter=spec", ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(result.status ?? 1);

#!/usr/bin/env node
// Run by `npm start`, `npm test` and `npm run bench` before anything else: installs the
// npm dependencies when node_modules is missing or older than package-lock.json, then
// builds (tsc -b is incremental: near-instant when nothing changed; the CNI plugin bundle
// takes milliseconds).
// Plain Node, no dependencies: it must work on a fresh clone.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const lock = join(root, "package-lock.json");
const stamp = join(root, "node_modules", ".trellis-lock.sha256");
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: "inherit" });

const want = createHash("sha256").update(readFileSync(lock)).digest("hex");
const have = existsSync(stamp) ? readFileSync(stamp, "utf8").trim() : "";
if (want !== have) {
  console.error(
    have ? "package-lock.json changed: npm ci" : "node_modules is missing or unknown: npm ci",
  );
  run("npm", ["ci", "--no-audit", "--no-fund"]);
  writeFileSync(stamp, `${want}\n`);
}
run(process.execPath, [join(root, "scripts", "build.mjs")]);

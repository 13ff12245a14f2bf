#!/usr/bin/env node
// The `trellis` executable: runs the compiled CLI (npm ci / npm run build make dist/).
import { existsSync } from "node:fs";

const entry = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    "trellis: dist/ is missing; run 'npm ci' (or 'npm run build') in the checkout first\n",
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));

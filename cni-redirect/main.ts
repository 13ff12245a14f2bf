// trellis-cni's entry point: stdin and environment in, the spec's JSON on stdout.
// Bundled to one CommonJS file (cni-redirect/bin/trellis-cni) so that it starts fast and
// runs from /opt/cni/bin with no package.json or node_modules beside it.

import { readFileSync } from "node:fs";
import { runPlugin } from "./plugin.js";

function readStdin(): string {
  try {
    return readFileSync(0, "utf8");
  } catch {
    return ""; // no stdin: VERSION still answers, the rest fail to decode
  }
}

void runPlugin(process.env, readStdin()).then((outcome) => {
  if (outcome.stdout) process.stdout.write(`${outcome.stdout}\n`);
  process.exitCode = outcome.exitCode;
});

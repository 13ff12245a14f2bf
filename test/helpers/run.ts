// Running programs from tests: openssl as an independent X.509 oracle, and the
// `trellis` executable as a user runs it.

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface Ran {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(cmd: string, args: readonly string[], input?: string): Ran {
  const r = spawnSync(cmd, args, { input, encoding: "utf8", timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export const openssl = (...args: string[]): Ran => run("openssl", args);

const trellisBin = fileURLToPath(new URL("../../../bin/trellis.js", import.meta.url));

export const trellis = (...args: string[]): Ran => run(process.execPath, [trellisBin, ...args]);

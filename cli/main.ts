// The `trellis` command: every subcommand hangs off this tree.

import { CertError } from "../certs/index.js";
import { CniError, InstallError } from "../cni-redirect/index.js";
import { caCommand } from "./ca.js";
import { cniCommand } from "./cni.js";
import { type Command, dispatch, UsageError } from "./command.js";
import { demoCommand } from "./demo.js";
import { redirectCommand } from "./redirect.js";

export const trellis: Command = {
  name: "trellis",
  summary: "a service mesh, and the Kubernetes network under it, on one Linux machine",
  subcommands: [demoCommand, caCommand, redirectCommand, cniCommand],
};

export async function main(argv: readonly string[]): Promise<number> {
  const io = {
    out: (line: string) => process.stdout.write(line.endsWith("\n") ? line : `${line}\n`),
    err: (line: string) => process.stderr.write(line.endsWith("\n") ? line : `${line}\n`),
  };
  try {
    return await dispatch(trellis, argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.commandPath}: ${err.message}\nRun '${err.commandPath} --help' for usage.`);
      return 2;
    }
    if (err instanceof CniError) {
      io.err(
        `trellis: CNI error ${err.code}: ${err.message}${err.details ? `\n${err.details}` : ""}`,
      );
      return 1;
    }
    if (err instanceof InstallError) {
      io.err(`trellis: ${err.code}: ${err.message}`);
      return 1;
    }
    if (err instanceof CertError) {
      io.err(`trellis: ${err.code}: ${err.message}`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    io.err(`trellis: ${e.code === "ENOENT" && e.path ? `${e.path}: no such file` : e.message}`);
    return 1;
  }
}

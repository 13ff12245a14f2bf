// The `trellis` command: every subcommand hangs off this tree.

import { FileSourceError } from "../api/file-source.js";
import { CertError } from "../certs/index.js";
import { CniError, InstallError } from "../cni-redirect/index.js";
import { TokenKeyError } from "../control-plane/ca/index.js";
import { XdsError } from "../control-plane/xds/errors.js";
import { BootstrapError } from "../sidecar/bootstrap.js";
import { IdentityError } from "../sidecar/identity.js";
import { caCommand } from "./ca.js";
import { cniCommand } from "./cni.js";
import { type Command, dispatch, UsageError } from "./command.js";
import { controlPlaneCommand, tokenCommand } from "./control-plane.js";
import { demoCommand } from "./demo.js";
import { redirectCommand } from "./redirect.js";
import { sidecarCommand } from "./sidecar.js";

export const trellis: Command = {
  name: "trellis",
  summary: "a service mesh, and the Kubernetes network under it, on one Linux machine",
  subcommands: [
    demoCommand,
    controlPlaneCommand,
    tokenCommand,
    sidecarCommand,
    caCommand,
    redirectCommand,
    cniCommand,
  ],
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
    if (err instanceof BootstrapError) {
      io.err(`trellis: ${err.code}:\n  ${err.problems.join("\n  ")}`);
      return 2;
    }
    if (
      err instanceof IdentityError ||
      err instanceof CertError ||
      err instanceof TokenKeyError ||
      err instanceof FileSourceError ||
      err instanceof XdsError
    ) {
      io.err(`trellis: ${err.code}: ${err.message}`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    io.err(`trellis: ${e.code === "ENOENT" && e.path ? `${e.path}: no such file` : e.message}`);
    return 1;
  }
}

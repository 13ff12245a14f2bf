// The shape of a `trellis` command and the one function that parses argv against a
// tree of them: `--help` at every level, unknown commands and bad flags answered with
// a clear message and exit code 2.

import { type ParseArgsConfig, parseArgs } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Invocation {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: readonly string[];
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Usage lines and option descriptions, shown by --help. */
  readonly help?: string;
  readonly options?: Options;
  /** Names of required options. */
  readonly required?: readonly string[];
  /** How many positional arguments it takes: [min, max]. Default none. */
  readonly positionals?: readonly [number, number];
  readonly subcommands?: readonly Command[];
  /** Resolves to the process exit code. */
  readonly run?: (inv: Invocation) => Promise<number>;
}

/** Wrong usage: exit code 2, with a pointer to the command's help. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  constructor(
    message: string,
    readonly commandPath: string,
  ) {
    super(message);
  }
}

export function helpText(cmd: Command, path: string): string {
  const lines = [`${path} — ${cmd.summary}`, ""];
  if (cmd.subcommands?.length) {
    lines.push(`Usage: ${path} <command> [options]`, "", "Commands:");
    const width = Math.max(...cmd.subcommands.map((c) => c.name.length));
    for (const sub of cmd.subcommands) lines.push(`  ${sub.name.padEnd(width + 2)}${sub.summary}`);
    lines.push("", `Run '${path} <command> --help' for a command's options.`);
  } else if (cmd.help) {
    lines.push(cmd.help.trimEnd());
  }
  return `${lines.join("\n")}\n`;
}

export async function dispatch(
  root: Command,
  argv: readonly string[],
  io: Pick<Invocation, "out" | "err">,
): Promise<number> {
  let cmd = root;
  let path = root.name;
  let rest = [...argv];
  while (cmd.subcommands?.length) {
    const [first, ...tail] = rest;
    if (first === undefined || first === "--help" || first === "-h" || first === "help") {
      io.out(helpText(cmd, path));
      return first === undefined && !cmd.run ? 2 : 0;
    }
    const sub = cmd.subcommands.find((c) => c.name === first);
    if (!sub) {
      const hint = first.startsWith("-") ? `unknown option ${first}` : `unknown command '${first}'`;
      throw new UsageError(
        `${hint}; commands: ${cmd.subcommands.map((c) => c.name).join(", ")}`,
        path,
      );
    }
    cmd = sub;
    path = `${path} ${sub.name}`;
    rest = tail;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(helpText(cmd, path));
    return 0;
  }
  let parsed: { values: Invocation["values"]; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: cmd.options ?? {},
      allowPositionals: true,
      strict: true,
    }) as typeof parsed;
  } catch (err) {
    throw new UsageError(
      (err as Error).message.replace(/\. To specify a positional.*$/s, ""),
      path,
    );
  }
  const [min, max] = cmd.positionals ?? [0, 0];
  if (parsed.positionals.length < min)
    throw new UsageError(`missing argument${min > 1 ? "s" : ""}`, path);
  if (parsed.positionals.length > max)
    throw new UsageError(`unexpected argument '${parsed.positionals[max]}'`, path);
  for (const name of cmd.required ?? []) {
    if (parsed.values[name] === undefined) throw new UsageError(`--${name} is required`, path);
  }
  if (!cmd.run) throw new UsageError("nothing to run", path);
  return cmd.run({ ...parsed, ...io });
}

/** Resolves on SIGINT or SIGTERM: how long-running commands (control-plane, sidecar) wait. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(sig);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

/** The value of a port flag (0 meaning any free port), or `fallback` when it is absent. */
export function portFlag(inv: Invocation, name: string, fallback: number, path: string): number {
  const text = inv.values[name] as string | undefined;
  if (text === undefined) return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--${name} ${JSON.stringify(text)} is not a port (0-65535)`, path);
  }
  return port;
}

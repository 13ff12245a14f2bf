// Runs inside `unshare --net --mount --fork --pid --kill-child` (see sandbox.ts): a
// private network, mount and PID namespace (and user namespace when not root). Reads one JSON command per line on stdin and
// answers on stdout. When stdin closes it exits, and with it, as PID 1 of its namespace,
// every process, network namespace and mount made inside: nothing reaches the host.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";

interface Command {
  id: number;
  op: "sh" | "bg" | "kill";
  cmd?: string;
  input?: string;
  name?: string;
  timeoutMs?: number;
}

const background = new Map<string, ChildProcess>();
const reply = (msg: object) => process.stdout.write(`${JSON.stringify(msg)}\n`);

function startBackground(c: Command): void {
  const child = spawn("bash", ["-c", c.cmd ?? ""], { stdio: ["ignore", "pipe", "pipe"] });
  background.set(c.name ?? "", child);
  let out = "";
  let err = "";
  const timer = setTimeout(
    () =>
      reply({
        id: c.id,
        status: 1,
        stdout: out,
        stderr: `${err}\nno "ready" line within ${c.timeoutMs}ms`,
      }),
    c.timeoutMs ?? 10_000,
  );
  child.stderr.on("data", (d) => {
    err += d;
  });
  child.stdout.on("data", (d) => {
    out += d;
    if (out.includes("ready\n")) {
      clearTimeout(timer);
      reply({ id: c.id, status: 0, stdout: out, stderr: err });
      out = "\u0000"; // answer once
    }
  });
  child.on("exit", (code) => {
    if (out === "\u0000") return;
    clearTimeout(timer);
    reply({ id: c.id, status: code ?? 1, stdout: out, stderr: `${err}\nexited before "ready"` });
  });
}

createInterface({ input: process.stdin })
  .on("line", (line) => {
    const c = JSON.parse(line) as Command;
    if (c.op === "sh") {
      const r = spawnSync("bash", ["-c", c.cmd ?? ""], {
        input: c.input ?? "",
        encoding: "utf8",
        timeout: c.timeoutMs ?? 30_000,
      });
      reply({
        id: c.id,
        status: r.status ?? 1,
        stdout: r.stdout,
        stderr: r.stderr + (r.error ? String(r.error) : ""),
      });
    } else if (c.op === "bg") {
      startBackground(c);
    } else {
      background.get(c.name ?? "")?.kill("SIGKILL");
      background.delete(c.name ?? "");
      reply({ id: c.id, status: 0, stdout: "", stderr: "" });
    }
  })
  .on("close", () => process.exit(0));

reply({ id: 0, status: 0, stdout: "agent ready", stderr: "" });

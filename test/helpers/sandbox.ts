// A throw-away Linux network sandbox for tests: `unshare --net --mount --fork --pid
// --kill-child` (plus --user --map-root-user when not root, so no privileges are needed)
// with a private /run, driven through sandbox-agent.ts. The host's network is never
// touched; closing the sandbox, or the test process dying, removes everything inside.

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import type { Ran } from "./run.js";

const agentPath = fileURLToPath(new URL("./sandbox-agent.js", import.meta.url));
/** The checkout's root, as the sandbox sees it (the mount namespace keeps the same files). */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

export class Sandbox {
  #child: ChildProcessWithoutNullStreams;
  #next = 1;
  #waiting = new Map<number, (r: Ran) => void>();

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.#child = child;
    createInterface({ input: child.stdout }).on("line", (line) => {
      const msg = JSON.parse(line) as Ran & { id: number };
      this.#waiting.get(msg.id)?.(msg);
      this.#waiting.delete(msg.id);
    });
  }

  /**
   * Starts a sandbox that is closed when the test `t` ends, pass or fail. A suite that
   * shares one sandbox passes no `t` and registers `after(() => sb.close())` itself.
   */
  static async start(t?: TestContext): Promise<Sandbox> {
    // As root: new net, mount and PID namespaces (uids as on the host, so rules that name
    // uid 1337 work). Otherwise a user namespace too, with only our own uid mapped.
    const userns = process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"];
    const args = [
      ...userns,
      "--net",
      "--mount",
      "--fork",
      "--pid",
      "--mount-proc",
      "--kill-child",
      process.execPath,
      agentPath,
    ];
    const child = spawn("unshare", args, {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const sb = new Sandbox(child);
    t?.after(() => sb.close());
    const ready = await new Promise<Ran>((resolve, reject) => {
      sb.#waiting.set(0, resolve);
      child.on("exit", (code) => reject(new Error(`the sandbox exited (${code}): ${stderr}`)));
    });
    if (ready.stdout !== "agent ready") throw new Error(`the sandbox did not start: ${stderr}`);
    const base = await sb.sh(
      "mount -t tmpfs tmpfs /run && mkdir -p /run/netns && ip link set lo up",
    );
    if (base.status !== 0) throw new Error(`sandbox setup failed: ${base.stderr}`);
    return sb;
  }

  #send(command: object): Promise<Ran> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#child.stdin.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }

  /** Runs a bash command inside the sandbox. */
  sh(cmd: string, input?: string, timeoutMs?: number): Promise<Ran> {
    return this.#send({ op: "sh", cmd, input, timeoutMs });
  }

  /** Like sh, but fails the test with the command's output when it exits non-zero. */
  async must(cmd: string, input?: string): Promise<string> {
    const r = await this.sh(cmd, input);
    if (r.status !== 0)
      throw new Error(`sandbox: '${cmd}' exited ${r.status}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Starts a background command and waits until it prints a line "ready". */
  async background(name: string, cmd: string, timeoutMs = 10_000): Promise<void> {
    const r = await this.#send({ op: "bg", name, cmd, timeoutMs });
    if (r.status !== 0)
      throw new Error(`sandbox: background '${name}' did not get ready\n${r.stderr}${r.stdout}`);
  }

  close(): Promise<void> {
    if (this.#child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.#child.on("exit", () => resolve());
      this.#child.stdin.end();
      setTimeout(() => this.#child.kill("SIGKILL"), 5000).unref();
    });
  }
}

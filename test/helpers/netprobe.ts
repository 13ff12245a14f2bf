// A small network tool for namespace tests, run inside a pod's netns:
//   serve                 stand-in sidecar: :15001 (outbound), :15006 (inbound) and an
//                         app on 127.0.0.1:9090; each answers a JSON line saying which
//                         listener took the connection and its original destination
//   server HOST PORT NAME a plain server answering {"server": NAME}
//   connect HOST PORT [MARK]  connects (with SO_MARK when MARK is given) and prints the
//                         answer, or {"error": CODE}
//   http-get HOST PORT PATH   prints {"status", "body"} of a GET, or {"error": …}

import { createServer, Socket } from "node:net";
import { markedSocket, originalDestination } from "../../sidecar/socket-options.js";

const [mode, ...args] = process.argv.slice(2);
const CONNECT_TIMEOUT_MS = 3000;

function listen(port: number, host: string, name: string, withOriginal: boolean): Promise<void> {
  const server = createServer((socket) => {
    let original: unknown = null;
    if (withOriginal) {
      try {
        original = originalDestination(socket);
      } catch (err) {
        original = { error: (err as { code?: string }).code };
      }
    }
    const remote = socket.remoteAddress?.replace(/^::ffff:/, "");
    socket.end(`${JSON.stringify({ listener: name, original, remote })}\n`);
  });
  return new Promise((resolve) => server.listen({ port, host, ipv6Only: false }, resolve));
}

if (mode === "serve") {
  await listen(15001, "::", "outbound", true);
  await listen(15006, "::", "inbound", true);
  await listen(9090, "127.0.0.1", "app", false);
  console.log("ready");
} else if (mode === "server") {
  const [host = "", port = "0", name = ""] = args;
  createServer((s) => s.end(`${JSON.stringify({ server: name })}\n`)).listen(
    Number(port),
    host,
    () => console.log("ready"),
  );
} else if (mode === "connect") {
  const [host = "", port = "0", mark] = args;
  const socket = mark ? markedSocket(Number(mark), host) : new Socket();
  let answer = "";
  socket.setTimeout(CONNECT_TIMEOUT_MS, () =>
    socket.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })),
  );
  socket.on("data", (d) => {
    answer += d;
  });
  socket.on("end", () => console.log(answer.trim()));
  socket.on("error", (err: NodeJS.ErrnoException) =>
    console.log(JSON.stringify({ error: err.code ?? err.message })),
  );
  socket.connect(Number(port), host);
} else if (mode === "http-get") {
  const [host = "", port = "0", path = "/"] = args;
  try {
    const res = await fetch(`http://${host}:${port}${path}`, {
      signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS),
    });
    console.log(JSON.stringify({ status: res.status, body: await res.text() }));
  } catch (err) {
    console.log(JSON.stringify({ error: (err as Error).message }));
  }
} else {
  console.error(
    "usage: netprobe serve | server HOST PORT NAME | connect HOST PORT [MARK] | http-get HOST PORT PATH",
  );
  process.exit(2);
}

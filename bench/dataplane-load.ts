// The load generator of `npm run bench -- dataplane`, in a process of its own: N
// connections (HTTP/1.1 over raw sockets, or gRPC over one HTTP/2 session each), each with
// one request outstanding at a time.
//
// Open loop (rate > 0), as wrk2 does: connection k sends on its own fixed schedule, rate/N
// per second, staggered; a request's latency runs from its intended send time when the
// connection was still busy with the previous one then (that wait is the system's doing:
// coordinated omission is not hidden), else from when it was actually sent (a timer firing
// late is the generator's doing, not the system's). Closed loop (rate 0, saturation): each
// connection sends the next request as soon as the previous answer is in.
//
// Usage: node dist/bench/dataplane-load.js '{"protocol":"http1",...}' (a LoadSpec); prints
// one JSON LoadResult line.

import { type ClientHttp2Session, constants as h2, connect as h2connect } from "node:http2";
import { connect, type Socket } from "node:net";
import { grpcFrame } from "./dataplane-apps.js";

export interface LoadSpec {
  readonly protocol: "http1" | "grpc";
  readonly host: string;
  readonly port: number;
  readonly connections: number;
  /** Requests per second over all connections; 0: closed loop, as fast as answers come. */
  readonly rate: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  /** Milliseconds. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** Sends one request on a connection; resolves when its whole answer is in. */
interface Conn {
  send(): Promise<boolean>;
  close(): void;
}

/** HTTP/1.1 keep-alive on a raw socket: Content-Length or chunked answers, nothing else. */
async function http1Conn(host: string, port: number): Promise<Conn> {
  const socket: Socket = connect({ host, port, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const request = Buffer.from(
    `GET /bench HTTP/1.1\r\nHost: web\r\nUser-Agent: trellis-bench\r\n\r\n`,
  );
  let buffered: Buffer = Buffer.alloc(0);
  let waiting: ((ok: boolean) => void) | undefined;
  const finish = (ok: boolean) => {
    const w = waiting;
    waiting = undefined;
    w?.(ok);
  };
  // The length of a complete answer at the start of `buf`, or -1 while it is incomplete.
  const complete = (buf: Buffer): number => {
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) return -1;
    const head = buf.subarray(0, end).toString("latin1").toLowerCase();
    const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
    if (length) {
      const total = end + 4 + Number(length[1]);
      return buf.length >= total ? total : -1;
    }
    if (!head.includes("transfer-encoding: chunked")) return end + 4;
    let at = end + 4;
    for (;;) {
      const line = buf.indexOf("\r\n", at);
      if (line < 0) return -1;
      const size = Number.parseInt(buf.subarray(at, line).toString("latin1"), 16);
      at = line + 2 + size + 2;
      if (at > buf.length) return -1;
      if (size === 0) return at;
    }
  };
  socket.on("data", (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const n = complete(buffered);
    if (n < 0) return;
    const ok = buffered.subarray(9, 12).toString("latin1") === "200";
    buffered = buffered.subarray(n);
    finish(ok);
  });
  socket.on("error", () => finish(false));
  socket.on("close", () => finish(false));
  return {
    send() {
      return new Promise<boolean>((resolve) => {
        if (socket.destroyed) return resolve(false);
        waiting = resolve;
        socket.write(request);
      });
    },
    close: () => socket.destroy(),
  };
}

/** gRPC unary calls on one h2c session. */
async function grpcConn(host: string, port: number): Promise<Conn> {
  const session: ClientHttp2Session = h2connect(`http://${host}:${port}`);
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  session.on("error", () => {});
  const message = grpcFrame(Buffer.from("ping"));
  const headers = {
    [h2.HTTP2_HEADER_METHOD]: "POST",
    [h2.HTTP2_HEADER_PATH]: "/bench.Echo/Get",
    [h2.HTTP2_HEADER_AUTHORITY]: "web",
    [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
    te: "trailers",
  };
  return {
    send() {
      return new Promise<boolean>((resolve) => {
        if (session.destroyed) return resolve(false);
        const stream = session.request(headers);
        let status = "";
        stream.once("trailers", (t) => {
          status = String(t["grpc-status"] ?? "");
        });
        stream.once("response", (h) => {
          if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
        });
        stream.resume();
        stream.once("close", () => resolve(status === "0"));
        stream.on("error", () => {});
        stream.end(message);
      });
    },
    close: () => session.destroy(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const open = spec.protocol === "http1" ? http1Conn : grpcConn;
  const conns = await Promise.all(
    Array.from({ length: spec.connections }, () => open(spec.host, spec.port)),
  );
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const measureFrom = t0 + spec.warmupSeconds * 1000;
  const until = measureFrom + spec.seconds * 1000;
  const interval = spec.rate > 0 ? (1000 * spec.connections) / spec.rate : 0;

  const drive = async (conn: Conn, k: number) => {
    let intended = t0 + (interval * k) / spec.connections;
    for (;;) {
      const now = performance.now();
      if (now >= until) return;
      let start = now;
      if (interval > 0) {
        if (now < intended) {
          await sleep(intended - now);
          start = performance.now(); // idle at the intended time: the timer's lateness is ours
        } else {
          start = intended; // still busy at the intended time: the wait counts
        }
        intended += interval;
      }
      const ok = await conn.send();
      if (start >= measureFrom) {
        latencies.push(performance.now() - start);
        if (!ok) errors++;
      }
    }
  };
  await Promise.all(conns.map((c, k) => drive(c, k)));
  for (const c of conns) c.close();
  latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? Number.NaN;
  return {
    requests: latencies.length,
    errors,
    seconds: spec.seconds,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: latencies[latencies.length - 1] ?? Number.NaN,
  };
}

if (process.argv[1]?.endsWith("dataplane-load.js")) {
  const spec = JSON.parse(process.argv[2] ?? "{}") as LoadSpec;
  process.stdout.write(`${JSON.stringify(await runLoad(spec))}\n`);
  process.exit(0);
}

// The upstream apps of `npm run bench -- dataplane`, in a process of their own so that
// their CPU is nobody else's: an HTTP/1.1 server answering every request with 1 KiB, and
// an h2c gRPC server answering every unary call with a 1 KiB message and grpc-status 0.
// Usage: node dist/bench/dataplane-apps.js HTTP_PORT GRPC_PORT; prints "ready" once both
// listen on 127.0.0.1.

import { createServer as createHttpServer } from "node:http";
import { createServer as createH2Server, constants as h2 } from "node:http2";

export const RESPONSE_BYTES = 1024;

/** A gRPC length-prefixed message: flag 0, the length, the bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

async function main(): Promise<void> {
  const [httpPort, grpcPort] = process.argv.slice(2).map(Number);
  const body = Buffer.alloc(RESPONSE_BYTES, "x");
  const http = createHttpServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on("end", () => res.end(body));
  });
  const framed = grpcFrame(body);
  const grpc = createH2Server();
  grpc.on("stream", (stream) => {
    stream.resume();
    stream.on("end", () => {
      stream.respond(
        { [h2.HTTP2_HEADER_STATUS]: 200, [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc" },
        { waitForTrailers: true },
      );
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(framed);
    });
    stream.on("error", () => {});
  });
  await new Promise<void>((r) => http.listen(httpPort, "127.0.0.1", r));
  await new Promise<void>((r) => grpc.listen(grpcPort, "127.0.0.1", r));
  process.stdout.write("ready\n");
  process.on("SIGTERM", () => process.exit(0));
}

if (process.argv[1]?.endsWith("dataplane-apps.js")) await main();

// The endpoint stage's pools honour the request's cancel signal (contract.ts, Cancellation):
// a request the caller gives up on is torn down upstream — the HTTP/1.1 request destroyed,
// the HTTP/2 stream reset — and fails as UPSTREAM_TIMEOUT, with real sockets on loopback.

import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer as h1Server, type IncomingMessage } from "node:http";
import { createServer as h2Server, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo, Server } from "node:net";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Cancellation, ProxyError, type ProxyRequest } from "../../sidecar/http/contract.js";
import { UpstreamPools } from "../../sidecar/http/upstream-pool.js";
import { DEFAULT_LIMITS } from "../../sidecar/proxy/circuit-breakers.js";
import type { TlsMaterial } from "../../sidecar/proxy/tls.js";

const request = (): ProxyRequest => ({
  method: "GET",
  path: "/hang",
  authority: "web",
  scheme: "http",
  headers: {},
  body: Readable.from([]),
  grpc: false,
});

async function listening(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

/** Dispatches to a server that never answers, cancels once it has the request, and returns the failure. */
async function cancelled(
  http2: boolean,
  port: number,
  arrived: Promise<unknown>,
): Promise<unknown> {
  // Plaintext targets: no TLS material is used.
  const pools = new UpstreamPools({ material: {} as TlsMaterial });
  const cancel = new Cancellation();
  const target = {
    cluster: "c",
    address: "127.0.0.1",
    port,
    connectTimeoutMs: 1000,
    http2,
    limits: DEFAULT_LIMITS,
  };
  try {
    const outcome = pools.dispatch(target, request(), cancel).then(
      () => "answered",
      (err: unknown) => err,
    );
    await arrived;
    cancel.abort();
    // A pool that ignored the signal would leave the request hanging: fail instead.
    return await Promise.race([outcome, sleep(5000, "no outcome in 5 s", { ref: false })]);
  } finally {
    pools.close();
  }
}

describe("upstream pools: the cancel signal", () => {
  it("HTTP/1.1: the request is destroyed upstream and fails as UPSTREAM_TIMEOUT", async () => {
    let arrive: (req: IncomingMessage) => void = () => {};
    const arrived = new Promise<IncomingMessage>((r) => {
      arrive = r;
    });
    const server = h1Server((req) => arrive(req));
    try {
      const port = await listening(server);
      const err = await cancelled(false, port, arrived);
      assert.ok(err instanceof ProxyError, String(err));
      assert.equal(err.code, "UPSTREAM_TIMEOUT");
      // The upstream sees its connection go.
      const req = await arrived;
      if (!req.socket.destroyed) await once(req.socket, "close");
      assert.equal(req.socket.destroyed, true);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("HTTP/2: the stream is reset and the request fails as UPSTREAM_RESET", async () => {
    let arrive: (stream: ServerHttp2Stream) => void = () => {};
    const arrived = new Promise<ServerHttp2Stream>((r) => {
      arrive = r;
    });
    const server = h2Server();
    server.on("stream", (stream) => arrive(stream));
    try {
      const port = await listening(server as unknown as Server);
      const err = await cancelled(true, port, arrived);
      assert.ok(err instanceof ProxyError, String(err));
      assert.equal(err.code, "UPSTREAM_RESET");
      const stream = await arrived;
      if (!stream.closed) await once(stream, "close");
      assert.equal(stream.rstCode, 8); // NGHTTP2_CANCEL
    } finally {
      server.close();
    }
  });
});

// Two sockets joined: bytes both ways, half-close passed on (one side's FIN ends the other's
// writing, and the connection lives until both have), an idle timeout on silence, and an
// error on either side tearing down both. Resolves when both are closed, with the counts
// the TCP metrics report.

import type { Duplex } from "node:stream";

export interface PipeResult {
  readonly bytesDownstreamToUpstream: number;
  readonly bytesUpstreamToDownstream: number;
  /** Why it ended, when not by both sides finishing. */
  readonly reason?: "idle_timeout" | "downstream_error" | "upstream_error";
}

/** Envoy's tcp_proxy idle_timeout default: 1 hour. */
export const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;

export function pipeSockets(
  downstream: Duplex & { setTimeout?(ms: number): unknown },
  upstream: Duplex & { setTimeout?(ms: number): unknown },
  idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS,
): Promise<PipeResult> {
  return new Promise((resolve) => {
    let up = 0;
    let down = 0;
    let reason: PipeResult["reason"];
    let closed = 0;
    const onClose = () => {
      if (++closed === 2) {
        clearTimeout(idle);
        resolve({ bytesDownstreamToUpstream: up, bytesUpstreamToDownstream: down, reason });
      }
    };
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      if (idleTimeoutMs > 0) {
        idle = setTimeout(() => {
          reason = "idle_timeout";
          downstream.destroy();
          upstream.destroy();
        }, idleTimeoutMs);
        idle.unref();
      }
    };
    touch();
    downstream.on("data", (chunk: Buffer) => {
      up += chunk.length;
      touch();
      if (!upstream.write(chunk)) downstream.pause();
    });
    upstream.on("data", (chunk: Buffer) => {
      down += chunk.length;
      touch();
      if (!downstream.write(chunk)) upstream.pause();
    });
    upstream.on("drain", () => downstream.resume());
    downstream.on("drain", () => upstream.resume());
    downstream.on("end", () => upstream.end());
    upstream.on("end", () => downstream.end());
    downstream.on("error", () => {
      reason ??= "downstream_error";
      upstream.destroy();
    });
    upstream.on("error", () => {
      reason ??= "upstream_error";
      downstream.destroy();
    });
    downstream.on("close", () => {
      onClose();
      // Both directions done or the downstream gone: nothing more can flow.
      if (!upstream.destroyed && upstream.writableEnded && upstream.readableEnded)
        upstream.destroy();
    });
    upstream.on("close", () => {
      onClose();
      if (!downstream.destroyed && downstream.writableEnded && downstream.readableEnded) {
        downstream.destroy();
      }
    });
  });
}

// The endpoint stage: a connection to one endpoint — plain, or mTLS with the sidecar's SVID
// where the cluster's UpstreamTlsContext says so, checking that the peer's SPIFFE ID is one
// the cluster names — with the sidecar's socket mark (so the redirect rules let it out)
// and the cluster's connect timeout. Failures are UpstreamError values with a code; the
// listener maps them to a status in one place.

import { connect as netConnect, type Socket } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import type { XdsMessage } from "../../api/xds-proto.js";
import { stringMatch } from "../authz/rbac.js";
import { markedSocket } from "../socket-options.js";
import { peerIdentity, type TlsMaterial } from "./tls.js";

export type UpstreamErrorCode =
  | "UPSTREAM_CONNECT_FAILED"
  | "UPSTREAM_CONNECT_TIMEOUT"
  | "UPSTREAM_TLS_FAILED"
  | "UPSTREAM_PEER_IDENTITY";

export class UpstreamError extends Error {
  override readonly name = "UpstreamError";
  constructor(
    readonly code: UpstreamErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What the endpoint stage needs of a cluster's UpstreamTlsContext. */
export interface UpstreamTls {
  readonly sni?: string;
  readonly alpn: readonly string[];
  /** StringMatchers for the peer's URI SAN (match_typed_subject_alt_names); empty: any SVID. */
  readonly peerIds: readonly XdsMessage[];
}

export interface ConnectOptions {
  readonly address: string;
  readonly port: number;
  readonly tls?: UpstreamTls;
  readonly material?: TlsMaterial;
  /** SO_MARK for the socket (the redirect rules exempt it); none: rely on the sidecar's uid. */
  readonly mark?: number;
  readonly timeoutMs: number;
}

/** An UpstreamTlsContext (decoded typed_config) as UpstreamTls. */
export function upstreamTlsOf(context: XdsMessage): UpstreamTls {
  const common = (context.common_tls_context ?? {}) as XdsMessage;
  const combined = (common.combined_validation_context ?? {}) as XdsMessage;
  const validation = (combined.default_validation_context ??
    common.validation_context ??
    {}) as XdsMessage;
  const sans = (validation.match_typed_subject_alt_names ?? []) as XdsMessage[];
  return {
    ...(typeof context.sni === "string" && context.sni ? { sni: context.sni } : {}),
    alpn: ((common.alpn_protocols ?? []) as string[]).filter((p) => typeof p === "string"),
    peerIds: sans
      .filter((s) => s.san_type === "URI" || s.san_type === 3)
      .map((s) => s.matcher as XdsMessage),
  };
}

export async function connectUpstream(options: ConnectOptions): Promise<Socket | TLSSocket> {
  const { address, port, timeoutMs } = options;
  const tcp = await new Promise<Socket>((resolve, reject) => {
    const socket =
      options.mark !== undefined
        ? markedSocket(options.mark, address).connect({ host: address, port })
        : netConnect({ host: address, port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new UpstreamError(
          "UPSTREAM_CONNECT_TIMEOUT",
          `${address}:${port}: no connection in ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      // Small writes (headers, then a body) must not wait for delayed ACKs (Nagle).
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(new UpstreamError("UPSTREAM_CONNECT_FAILED", `${address}:${port}: ${err.message}`));
    });
  });
  if (!options.tls) return tcp;
  const material = options.material;
  if (!material) throw new Error("an mTLS upstream needs the sidecar's TLS material");
  const tls = options.tls;
  return new Promise<TLSSocket>((resolve, reject) => {
    const secure = tlsConnect({
      socket: tcp,
      secureContext: material.secureContext(),
      ...(tls.sni ? { servername: tls.sni } : {}),
      ...(tls.alpn.length ? { ALPNProtocols: [...tls.alpn] } : {}),
      rejectUnauthorized: true,
      // The peer is checked by SPIFFE ID below, not by host name.
      checkServerIdentity: () => undefined,
    });
    const timer = setTimeout(() => {
      secure.destroy();
      reject(
        new UpstreamError(
          "UPSTREAM_CONNECT_TIMEOUT",
          `${address}:${port}: no TLS handshake in ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    secure.once("secureConnect", () => {
      clearTimeout(timer);
      secure.removeAllListeners("error");
      const peer = peerIdentity(secure);
      const ok =
        peer !== undefined &&
        (tls.peerIds.length === 0 || tls.peerIds.some((m) => stringMatch(m, peer)));
      if (!ok) {
        secure.destroy();
        reject(
          new UpstreamError(
            "UPSTREAM_PEER_IDENTITY",
            `${address}:${port} presented ${peer ?? "no SVID"}, not an identity the cluster allows`,
          ),
        );
        return;
      }
      resolve(secure);
    });
    secure.once("error", (err) => {
      clearTimeout(timer);
      tcp.destroy();
      reject(new UpstreamError("UPSTREAM_TLS_FAILED", `${address}:${port}: ${err.message}`));
    });
  });
}
